# UAI — two commands do all setup on a fresh machine:
#   make run    create .venv, install, migrate, serve on http://$(UAI_HOST):$(UAI_PORT)
#   make test   the same setup, then the whole test suite
# With no DATABASE_URL both use an embedded PostgreSQL in ./var/pgdata; with REDIS_URL the
# server uses Redis and expects `procrastinate worker` processes (make test starts one).
#   make reliability        faults (kill -9, SIGTERM, PostgreSQL and Redis outages) under load on a
#                           distributed topology of its own, with figures (reliability/run.py)
#   make reliability-short  the same, small and quick (.ci/run)
#   make typecheck          mypy over uai and uai_project (pyproject.toml's [tool.mypy]; .ci/run)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
UAI_HOST ?= 127.0.0.1
UAI_PORT ?= 8000
PYTEST_ARGS ?=
RELIABILITY_ARGS ?=

.PHONY: install run test worker lint typecheck clean reliability reliability-short

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	UAI_HOST=$(UAI_HOST) UAI_PORT=$(UAI_PORT) $(PY) manage.py serve

worker: install
	$(PY) manage.py procrastinate worker $(if $(QUEUES),--queues $(QUEUES))

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

reliability: install
	$(PY) -m reliability $(RELIABILITY_ARGS)

reliability-short: install
	$(PY) -m reliability --short $(RELIABILITY_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# mypy with django-stubs' plugin, which loads the settings: a DATABASE_URL nothing connects to
# keeps them from starting the embedded PostgreSQL.
typecheck: install
	DATABASE_URL=postgres://typecheck.invalid/typecheck $(VENV)/bin/mypy uai uai_project

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
