# Two commands on a fresh machine with only Python: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench ask check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) run.py ask

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/matcher_bench.py

check: $(STAMP)
	$(PY) run.py faq check

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
