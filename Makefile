# The two commands of the README:
#   make run    set up and serve the bundled demo model on :8080
#   make test   set up and run the whole test suite (lint, tests, offline infrastructure checks)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_MODEL := models/mnist

.PHONY: run test lint unit check-infra container-smoke demo-model venv clean bench system-deps peer-venvs

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

# wrk drives the benchmarks and its own test; install it where we may (root with apt), else say why it is skipped.
system-deps:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "note: wrk is not installed (apt-get install wrk); tests/benchmarks/test_wrk.py will be skipped"; fi; }

unit: $(STAMP) system-deps
	$(PY) -m pytest

check-infra:
	scripts/check-infra

test: lint unit check-infra

container-smoke:
	scripts/container-smoke

# The peers the benchmarks measure (MLServer, BentoML), each in its own venv: their opentelemetry pins conflict.
.venv-%/.installed: benchmarks/peers/requirements-%.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -r $<
	touch $@

peer-venvs: .venv-mlserver/.installed .venv-bentoml/.installed

# On demand, not in CI: this server (default and WORKERS=1) vs the seeds' pattern, the careful-simple server,
# MLServer and BentoML (writes docs/benchmarks.*); then the batch job against the raw model, and the front door alone.
bench: $(STAMP) peer-venvs
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m benchmarks --ours-env WORKERS=1
	$(PY) -m benchmarks.batchjob
	$(PY) -m benchmarks.fronts

clean:
	rm -rf $(VENV) .venv-infra .venv-mlserver .venv-bentoml $(DEMO_MODEL) .pytest_cache .ruff_cache
