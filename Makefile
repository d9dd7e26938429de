# Two entry points, each doing all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-fast lint format install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e ".[test,dev]"
	# The build leaves an egg-info here; with the checkout on sys.path (tests, the demo) Airflow would
	# find the provider's entry points twice ("Plugin 'stripe_run_note' already registered").
	rm -rf airflow_stripe_automation.egg-info
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(PY) demo/run_demo.py

# Everything CI runs: lint, format check and types first, then both test tiers (the slow one runs
# the demo, the airflow CLI, a Celery deployment and the fast tier again on four other dates).
test: lint
	$(PY) -m pytest -q

# The edit loop: no subprocess Airflow, no cluster, no demo.
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) .airflow_home .pytest_cache .mypy_cache .ruff_cache
