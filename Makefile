# Two commands on a fresh machine with Python >= 3.11 and make: `make run` and `make test`.
# Both create the project-local .venv and install into it when pyproject.toml or the lock changes.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || command -v python)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint migrate lock bench clean

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

lock:  ## Re-pin requirements.lock from a fresh resolution of pyproject.toml (runtime + dev)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock
	rm -rf .venv-lock

# Benchmarks run in their own venv: ccxt (the reference client) pins versions that differ from the lock.
$(BENCH_STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $@

bench: $(BENCH_STAMP)  ## Run the benchmarks (figures in the README)
	$(BENCH_VENV)/bin/python benchmarks/okx_transport.py
	$(BENCH_VENV)/bin/python benchmarks/okx_vs_ccxt.py
	$(BENCH_VENV)/bin/python benchmarks/risk_check.py
	$(BENCH_VENV)/bin/python benchmarks/fastapi_dependencies.py
	$(BENCH_VENV)/bin/python benchmarks/twap_slippage.py

clean:  ## Remove .venv and caches (keeps ./data)
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache build *.egg-info
