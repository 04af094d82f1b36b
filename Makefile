# Two commands on a fresh machine with Python >= 3.11 and make: `make run` and `make test`.
# Both create the project-local .venv and install into it when pyproject.toml or the lock changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || command -v python)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint migrate lock clean

help:  ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "No python3 found: install Python 3.11 or newer, or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required, found " + sys.version.split()[0] + ": pass PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $@

install: $(STAMP)  ## Install everything into .venv (only)

run: install  ## Install, migrate the database, and serve on 127.0.0.1:$PORT (default 8000)
	$(BIN)/python -m app serve

test: install  ## Install and run the whole test suite (SQLite and PostgreSQL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install  ## Check style with ruff
	$(BIN)/ruff check app tests alembic
	$(BIN)/ruff format --check app tests alembic

migrate: install  ## Apply the migrations to DATABASE_URL
	$(BIN)/python -m app migrate

lock: install  ## Re-pin requirements.lock from what is installed in .venv
	$(BIN)/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock

clean:  ## Remove .venv and caches (keeps ./data)
	rm -rf $(VENV) .pytest_cache build *.egg-info
