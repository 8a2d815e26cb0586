# Two commands on a fresh machine with only Python: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench bench-server ask check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The webhook server; uses ./config.toml when present (see config.example.toml),
# else the built-in settings: bundled FAQ, instance/bot.db, no channels but /healthz.
CONFIG ?= $(wildcard config.toml)
run: $(STAMP)
	$(PY) run.py serve $(if $(CONFIG),--config $(CONFIG)) --host $(HOST) --port $(PORT)

ask: $(STAMP)
	$(PY) run.py ask

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/matcher_bench.py

bench-server: $(STAMP)
	$(PY) bench/server_bench.py

check: $(STAMP)
	$(PY) run.py faq check

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
