# Two commands: `make demo` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Byte-compile our packages even where PYTHONDONTWRITEBYTECODE is set, as an
	# installed wheel would be: a cold `flowctl lint` should not recompile them.
	$(BIN)/python -m compileall -q engine cli worker api
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flowctl lint flows/
	$(BIN)/flowctl simulate flows/clinic.json --scenario flows/clinic.scenarios.json

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m compileall -q engine cli worker api
	$(BIN)/python bench/lint_bench.py
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/route_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/worker_bench.py
	$(BIN)/python bench/api_bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
