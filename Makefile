# Quick start: `make demo` (analyse the bundled sample case) and `make test` (run the test suite).
# Both create .venv in the repository root on first use and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-slicer-pythons check-demo-model demo-model browser clean-venv

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

# The library on each 3D Slicer's Python (5.6, 5.8: CPython 3.9; 5.10, 5.12: 3.12) with the numpy, scipy, SimpleITK,
# pydicom and pillow that Slicer ships, PyRadiomics as SlicerRadiomics provides it and the module's requirements.txt:
# demo, report, extract/train/evaluate and the fast tests in build/slicer-pythons/<version>; the table in
# build/slicer-pythons/results.md. Needs pyenv's CPython 3.9 and 3.12 and PyPI (pip's cache is used). Not in CI: about
# 57 min on 2 cores (2026-12-05). Run it before every change to dependencies (requirements.txt, pyproject.toml).
# SLICER_PYTHONS_ARGS passes options, e.g. "--only 5.6 --commit HEAD" (see the script's --help).
test-slicer-pythons: $(STAMP)
	$(BIN)/python Testing/bench/slicer_pythons.py $(SLICER_PYTHONS_ARGS)

# The committed demo-model command on a reduced cohort (70 phantoms) against its recorded reference: about 5-10 min on
# 2 cores, so a step of its own in CI (.ci/run), not part of `make test`.
check-demo-model: $(STAMP)
	$(BIN)/python -m pytest -m slow Testing/commands/test_demo_model.py -k reduced_rebuild

# Rebuild the bundled demonstration model from synthetic phantoms (the committed command; see its model card).
demo-model: $(STAMP)
	$(BIN)/ccrcc-staging build-demo-model

clean-venv:
	rm -rf $(VENV)
