# The template's two commands: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Component environments shared by every project baked here (tests and demo), keyed by lock hash.
export VENVS ?= $(CURDIR)/build/venvs
DEMO_DIR := build/demo

.PHONY: help demo lint test test-fast clean
help:
	@echo "make demo       bake the default project into $(DEMO_DIR)/ and run its whole local loop"
	@echo "make test       the template's whole test suite (bakes, lint, generated projects' tests)"
	@echo "make lint       ruff over the template's own code (hooks, tests)"
	@echo "make test-fast  hook and bake tests only (no generated-project test suites)"
	@echo "make clean      remove build/ (baked projects and environments)"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(MAKE) -C $(DEMO_DIR)/llm-service demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check hooks tests local_extensions.py
	$(VENV)/bin/ruff format --check hooks tests local_extensions.py

test: lint
	$(PY) -m pytest tests

test-fast: $(VENV)/.installed
	$(PY) -m pytest tests -m "not slow"

clean:
	rm -rf build
