# Quick start: `make demo` (analyse the bundled sample case) and `make test` (run the test suite).
# Both create .venv in the repository root on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow demo-model browser clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ccrcc-staging demo

# The report's browser test needs Debian's Chromium; installed here when missing and possible (root + apt),
# otherwise that one test skips and says why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null) || \
	    echo "note: Chromium not installed; the report's browser test will be skipped"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# Rebuild the bundled demonstration model from synthetic phantoms (the committed command; see its model card).
demo-model: $(STAMP)
	$(BIN)/ccrcc-staging build-demo-model

clean-venv:
	rm -rf $(VENV)
