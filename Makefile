# The README's commands. Everything runs inside .venv, created on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Local PostgreSQL and Redis for `make services-test` (CI sets the same variables).
SERVICES_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/studyplatform
SERVICES_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: help install demo serve worker test services-test lint format bench clean

help:
	@echo "make demo           set up and run the platform on this machine (SQLite, no server needed)"
	@echo "make test           run the whole test suite (SQLite; system tests need PostgreSQL+Redis)"
	@echo "make services-test  run the whole test suite against PostgreSQL, Redis and real workers"
	@echo "make lint           ruff + mypy"
	@echo "make worker         start a Celery worker for both queues"
	@echo "make bench          run the benchmarks under bench/"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

.env:
	@sed "s|^SECRET_KEY=.*|SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')|" .env.example > .env
	@echo "wrote .env (development settings; edit it or use environment variables)"

demo: install .env
	$(PY) manage.py demo --host $(HOST) --port $(PORT)

serve: install .env
	$(PY) manage.py runserver $(HOST):$(PORT)

worker: install .env
	$(VENV)/bin/celery -A studyplatform worker -Q default,gpu --concurrency 1 -l INFO

test: install
	DEBUG=true $(PY) -m pytest $(PYTEST_ARGS)

services-test: install
	DEBUG=true DATABASE_URL=$(SERVICES_DATABASE_URL) CELERY_BROKER_URL=$(SERVICES_REDIS_URL) \
	REQUIRE_SERVICES=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=true $(VENV)/bin/mypy studyplatform explainers studies analysis

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf var/celery var/log .pytest_cache .mypy_cache .ruff_cache
