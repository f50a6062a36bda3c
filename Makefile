# The two set-up commands of the README: `make example` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The oldest Django op_store supports (pyproject.toml: Django>=4.2), with the oldest DRF it supports;
# `.venv` gets the newest (5.2 today). `make test-django42` runs the suite there.
VENV_DJANGO42 ?= .venv-django42
DJANGO42_PINS := 'Django>=4.2,<5.0' 'djangorestframework>=3.15,<3.16'

.PHONY: install install-django42 example test test-django42 test-pgbouncer test-mysql lint bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,dev,api]'
	touch $@

install: $(VENV)/.installed

$(VENV_DJANGO42)/.installed: pyproject.toml
	python3 -m venv $(VENV_DJANGO42)
	$(VENV_DJANGO42)/bin/pip install -q --upgrade pip
	$(VENV_DJANGO42)/bin/pip install -q -e '.[test,dev,api]' $(DJANGO42_PINS)
	touch $@

install-django42: $(VENV_DJANGO42)/.installed

example: install
	cd example_project && ../$(PY) manage.py migrate --no-input && ../$(PY) manage.py seed_demo && ../$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite on the production topologies (docs/testing.md); start the services first, as root:
#   .ci/pgbouncer  PgBouncer 1.18, transaction pooling, 127.0.0.1:6432 in front of PostgreSQL on :5432
#   .ci/mariadb    MariaDB on 127.0.0.1:3306 (root, no password) and the mysqlclient build dependencies
# Both create their own test database (OP_STORE_PG_TEST_NAME, OP_STORE_MYSQL_TEST_NAME; default
# test_op_store). tests/store/test_topology.py checks that each run really went where its name says.
test-pgbouncer: install
	OP_STORE_TEST_DB=pgbouncer $(PY) -m pytest $(PYTEST_ARGS)

# The MySQL driver is not in the test extra: it builds against libmysqlclient, which a fresh
# machine may lack, and `make test` must work there.
test-mysql: install
	$(VENV)/bin/pip install -q -e '.[test,dev,api,mysql]'
	OP_STORE_TEST_DB=mysql $(PY) -m pytest $(PYTEST_ARGS)

test-django42: install-django42
	$(VENV_DJANGO42)/bin/python -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check op_store tests benchmarks example_project
	$(VENV)/bin/ruff format --check op_store
	$(VENV)/bin/mypy op_store
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)
