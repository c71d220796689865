# The two commands a fresh clone needs: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q src  # bytecode even where PYTHONDONTWRITEBYTECODE is set: start-up time
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests

test: lint typecheck unit

# Full-size chaos (3,000 jobs, a minute of SIGKILLs, SQLite then PostgreSQL at
# $$QUEUECTL_TEST_PG); the CI-sized run is tests/reliability/test_chaos.py.
chaos: $(STAMP)
	$(BIN)/python scripts/chaos.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
