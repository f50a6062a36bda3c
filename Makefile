# The two set-up commands of the README: `make example` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The oldest Django op_store supports (pyproject.toml: Django>=4.2), with the oldest DRF it supports;
# `.venv` gets the newest (5.2 today). `make test-django42` runs the suite there.
VENV_DJANGO42 ?= .venv-django42
DJANGO42_PINS := 'Django>=4.2,<5.0' 'djangorestframework>=3.15,<3.16'

.PHONY: install install-django42 example test test-django42 lint bench

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

test-django42: install-django42
	$(VENV_DJANGO42)/bin/python -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check op_store tests benchmarks example_project
	$(VENV)/bin/ruff format --check op_store
	$(VENV)/bin/mypy op_store
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)
