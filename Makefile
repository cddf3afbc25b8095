# UAI — two commands do all setup on a fresh machine:
#   make run    check the port, create .venv, install (base dependencies), migrate, serve on
#               http://$(UAI_HOST):$(UAI_PORT); one line with the fix when something is wrong
#   make test   the same setup with the dev extra (frameworks, test tools), then the whole test suite
# With no DATABASE_URL both use an embedded PostgreSQL in ./var/pgdata; with REDIS_URL the
# server uses Redis and expects `procrastinate worker` processes (make test starts one).
#   make reliability        faults (kill -9, SIGTERM, PostgreSQL and Redis outages) under load on a
#                           distributed topology of its own, with figures (reliability/run.py)
#   make reliability-short  the same, small and quick (.ci/run)
#   make typecheck          mypy over uai and uai_project (pyproject.toml's [tool.mypy]; .ci/run)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# What is installed, per pyproject.toml's checksum: `run` needs the base dependencies only;
# `test` and the tools need the dev extra (frameworks, pytest, playwright, mypy…) on top.
CKSUM := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-base-$(CKSUM)
DEV_STAMP := $(VENV)/.installed-dev-$(CKSUM)
UAI_HOST ?= 127.0.0.1
UAI_PORT ?= 8000
PYTEST_ARGS ?=
RELIABILITY_ARGS ?=

.PHONY: install install-dev check-port run test worker lint typecheck clean reliability reliability-short

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing UAI and what serving needs into $(VENV) (about a minute the first time)..."
	$(PY) -m pip install --progress-bar on -e .
	rm -f $(VENV)/.installed-base-*
	touch $(STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing UAI with its dev extra (agent frameworks, pytest, Playwright, linters) into $(VENV)..."
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	rm -f $(VENV)/.installed-dev-* $(VENV)/.installed-base-*
	touch $(DEV_STAMP) $(STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# Before anything slow: a busy port is told in one line, with the fix (uai_project/startup.py).
check-port:
	@$(PYTHON) -m uai_project.startup port $(UAI_HOST) $(UAI_PORT)

run: check-port install
	@echo "Migrating the database..."
	@$(PY) manage.py migrate --noinput --verbosity 0
	@$(PY) manage.py collectstatic --noinput --verbosity 0
	@UAI_HOST=$(UAI_HOST) UAI_PORT=$(UAI_PORT) $(PY) manage.py serve

worker: install
	$(PY) manage.py procrastinate worker $(if $(QUEUES),--queues $(QUEUES))

test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

reliability: install-dev
	$(PY) -m reliability $(RELIABILITY_ARGS)

reliability-short: install-dev
	$(PY) -m reliability --short $(RELIABILITY_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# mypy with django-stubs' plugin, which loads the settings: a DATABASE_URL nothing connects to
# keeps them from starting the embedded PostgreSQL.
typecheck: install-dev
	DATABASE_URL=postgres://typecheck.invalid/typecheck $(VENV)/bin/mypy uai uai_project

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
