# Dojo: `make run` sets everything up and starts the site; `make test` runs the suite.
SHELL := /bin/bash
# The sandbox's unprivileged user must be able to read the runtime, so the venv is
# made from the system Python (a pyenv under /root is unreadable to it).
PYTHON ?= $(shell command -v /usr/bin/python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test faults setup deps system-deps lint bench bench-smoke clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"'
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "Python's venv module is missing: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

deps: $(VENV)/.installed

system-deps:
	@bin/system-deps

setup: system-deps deps
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py dojo_setup

run: setup
	@PORT=$(PORT) bin/dojo-run

# Two processes (pytest-xdist): much of the suite waits on workers, sandboxes and
# browsers, so a second process overlaps those waits; each has its own files,
# database and broker prefix (config.settings.test). TEST_PROCESSES=0 runs in one.
TEST_PROCESSES ?= 2
test: system-deps deps
	$(VENV)/bin/pytest -m "not faults and not bench" -n $(TEST_PROCESSES) --dist worksteal

# Faults injected into real processes (tests/faults): slower, and the database
# cut needs PostgreSQL, so they run here, on PostgreSQL and Redis (CI runs both).
faults: system-deps deps
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(VENV)/bin/pytest -m faults tests/faults

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: deps
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Every bench/[!_]*.py in its quick mode (seconds each, the same code path), so
# a bench that stopped working is noticed: CI runs this after test and faults.
bench-smoke: system-deps deps
	$(VENV)/bin/pytest -m bench tests/config/test_benches.py

clean:
	rm -rf var test-output
