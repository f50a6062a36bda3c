# The two set-up commands of the README: `make example` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install example test lint bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,dev,api]'
	touch $@

install: $(VENV)/.installed

example: install
	cd example_project && ../$(PY) manage.py migrate --no-input && ../$(PY) manage.py seed_demo && ../$(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check op_store tests benchmarks example_project
	$(VENV)/bin/ruff format --check op_store
	$(VENV)/bin/mypy op_store
	$(VENV)/bin/lint-imports --no-cache --no-logo

bench: install
	$(PY) -m benchmarks $(BENCH_ARGS)
