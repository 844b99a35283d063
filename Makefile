# The two commands of the README:
#   make run    set up and serve the bundled demo model on :8080
#   make test   set up and run the whole test suite (lint, tests, offline infrastructure checks)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_MODEL := models/mnist

.PHONY: run test lint unit check-infra container-smoke demo-model venv clean bench

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

$(DEMO_MODEL)/1/saved_model.pb: | $(STAMP)
	$(PY) -m model_export mnist --output $(DEMO_MODEL) --force

demo-model: $(DEMO_MODEL)/1/saved_model.pb

run: $(STAMP) demo-model
	LOG_FORMAT=$${LOG_FORMAT:-text} $(PY) -m app

lint: $(STAMP)
	$(VENV)/bin/ruff check .

unit: $(STAMP)
	$(PY) -m pytest

check-infra:
	scripts/check-infra

test: lint unit check-infra

container-smoke:
	scripts/container-smoke

# On demand, not in CI: this server vs the seeds' pattern and the careful-simple server; writes docs/benchmarks.*
bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .venv-infra $(DEMO_MODEL) .pytest_cache .ruff_cache
