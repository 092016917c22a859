# Quick start: `make demo` (analyse the bundled sample case) and `make test` (run the test suite).
# Both create .venv in the repository root on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow demo-model clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ccrcc-staging demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# Rebuild the bundled demonstration model from synthetic phantoms (the committed command; see its model card).
demo-model: $(STAMP)
	$(BIN)/ccrcc-staging build-demo-model

clean-venv:
	rm -rf $(VENV)
