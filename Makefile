# Accord: every command a developer or CI needs. CI runs `make test` through .ci/run.
# The environment lives in .venv/; it is rebuilt when pyproject.toml or requirements.lock change.

PYTHON ?= $(shell for p in python3.11 python3.12 python3; do command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint format bench clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 12), "Accord needs Python 3.11 or 3.12 (durable-rules does not build on 3.13)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv with the pinned dependencies

run: install ## start Redis (embedded unless REDIS_URL), 2 workers and the API on 127.0.0.1:8000
	$(BIN)/accord run

lint: install ## ruff, mypy and the import contracts: layers, owners, no circles (import-linter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install lint ## lint, then the whole suite with line and branch coverage (starts its own Redis and Celery worker)
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

bench: install ## benchmarks; writes bench/results.json
	$(BIN)/python -m bench

clean: ## remove the environment and runtime state
	rm -rf $(VENV) var
