# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-unit test-integration lint services-up services-down services-status bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## The main job on the embedded default (SQLite, no services).
run: $(STAMP)
	$(BIN)/orders demo

## Lint (ruff, mypy), then services up, then the whole suite.
test: $(STAMP) lint services-up
	$(BIN)/pytest -q tests

## ruff (lint + import order, 120 columns) and mypy (strict), as configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

## The fast loop: unit tests only, no services.
test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test-integration: $(STAMP) services-up
	$(BIN)/pytest -q -m integration tests

services-up:
	bash scripts/services up

services-down:
	bash scripts/services down

services-status:
	bash scripts/services status

clean:
	rm -rf var/ .pytest_cache
