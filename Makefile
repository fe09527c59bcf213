# Two entry points: `make run` and `make test` (see README). Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean venv

$(STAMP): pyproject.toml setup.py src/oomkit/_procscan.c src/oomkit/_linecount.c
	@sh scripts/make-venv.sh "$(PYTHON)" "$(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,web,web-test]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/oomkit why

lint: $(STAMP)
	$(PY) -m ruff check src tests bench

typecheck: $(STAMP)
	$(PY) -m mypy

unit: $(STAMP)
	OOMKIT_REQUIRE_NATIVE=1 $(PY) -m pytest

test: lint typecheck unit

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
