# The README's commands. `make demo` runs a demo; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# Every version the virtual environment holds is pinned, with its hashes, in requirements/:
# build.lock (pip, setuptools, hatchling), runtime.lock (what the app needs; the demo
# installs only this) and test.lock (everything: runtime, tests, linters, build tools).
# `make lock` makes all three from pyproject.toml and requirements/build.in, for
# CPython 3.11 on Linux x86_64.

# The browser tests drive Debian's Chromium (never a downloaded one) and
# check every page with axe-core from the npm registry.
CHROMIUM := /usr/bin/chromium
AXE := .cache/npm/node_modules/axe-core/axe.min.js
# The demo's port: `make demo PORT=8080`; its links follow (AFTERCARE_BASE_URL).
PORT ?= 8000
DEMO_URL = $${AFTERCARE_BASE_URL:-http://127.0.0.1:$(PORT)}
# The suite runs a second time on PostgreSQL; the database is created if missing.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/aftercare_test

.PHONY: install install-test lock audit audit-if-reachable demo test lint test-sqlite test-postgres wheel messages bench clean

install: $(STAMP)

# pip itself, setuptools and hatchling come first, from wheels only, so that what is built
# afterwards (Aftercare itself; for the tests, http-ece's source archive) is built with those locked
# versions (--no-build-isolation) rather than with build tools pip would fetch unchecked.
$(STAMP): requirements/build.lock requirements/runtime.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and \
		"The locks in requirements/ are for Python 3.11: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --only-binary :all: -r requirements/build.lock
	$(BIN)/pip install --quiet --require-hashes --no-build-isolation -r requirements/runtime.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation --editable .
	$(BIN)/pip check
	touch $@

install-test: $(TEST_STAMP)

$(TEST_STAMP): requirements/test.lock $(STAMP)
	$(BIN)/pip install --quiet --require-hashes --no-build-isolation -r requirements/test.lock
	$(BIN)/pip check
	touch $@

# Resolve for CPython 3.11 on Linux x86_64 from PyPI alone: uv reads neither pip's
# configuration nor this machine's local wheel folders. Pins already in a lock are kept;
# `make lock LOCK_ARGS=--upgrade` moves them all, `LOCK_ARGS='-P fastapi'` one package.
# runtime.lock and build.lock are cut from test.lock, so the three never disagree.
UV_VERSION := 0.13.8
LOCK_TOOLS := .cache/lock-tools
UV_COMPILE = $(LOCK_TOOLS)/bin/uv pip compile --quiet --no-config --generate-hashes \
	--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
	--custom-compile-command 'make lock' $(LOCK_ARGS)

lock:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) pyproject.toml --extra test requirements/build.in -o requirements/test.lock
	$(UV_COMPILE) pyproject.toml -c requirements/test.lock -o requirements/runtime.lock
	$(UV_COMPILE) requirements/build.in -c requirements/test.lock -o requirements/build.lock

# pip-audit looks every locked version up in PyPI's vulnerability data (its per-release
# JSON pages). --strict fails the audit on any package it could not look up: without it,
# an unreachable or partial service gives "No known vulnerabilities found" and exit 0
# with nothing checked. --timeout: a request stalled for 30 s fails the audit with its
# cause, it never hangs nor passes. A known vulnerability with no fixed release to move
# to is accepted here, one `--ignore-vuln ID` a line, each with its reason (none today).
# From the machines CI runs on today those pages answer 404 for every package and the
# other services (OSV, ecosyste.ms) do not resolve: `make test` runs the audit whenever
# PyPI's per-release pages answer, and otherwise says loudly that it could not.
AUDIT_IGNORE :=
audit: install-test
	$(BIN)/pip-audit --strict --disable-pip --require-hashes --progress-spinner off \
		--timeout 30 $(AUDIT_IGNORE) -r requirements/test.lock

PYPI_RELEASE_PAGE := https://pypi.org/pypi/pip/24.0/json
audit-if-reachable: install-test
	@if $(BIN)/python -c "import urllib.request as u; u.urlopen('$(PYPI_RELEASE_PAGE)', timeout=30)" \
		2>/dev/null; then $(MAKE) audit; else \
		echo "*** pip-audit NOT RUN: PyPI's vulnerability data ($(PYPI_RELEASE_PAGE))"; \
		echo "*** cannot be reached from this machine. Run 'make audit' where it can."; fi

demo: install
	AFTERCARE_DEMO=1 AFTERCARE_BASE_URL=$(DEMO_URL) $(BIN)/aftercare demo
	AFTERCARE_DEMO=1 AFTERCARE_BASE_URL=$(DEMO_URL) $(BIN)/aftercare serve --port $(PORT)

test: lint audit-if-reachable test-sqlite test-postgres

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/npm axe-core@4.10.2

test-sqlite: install-test $(CHROMIUM) $(AXE)
	$(BIN)/pytest

test-postgres: install-test $(CHROMIUM) $(AXE)
	AFTERCARE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m "not packaging"

bench: install-test $(CHROMIUM)
	@command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python bench/checkins.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/budgets.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/guards.py
	$(BIN)/python bench/report.py

wheel: install-test
	$(BIN)/python -m build --wheel --no-isolation

# Extract the strings marked for translation and merge them into each language.
messages: install
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -o backend/aftercare/locale/messages.pot backend frontend/templates
	$(BIN)/pybabel update -i backend/aftercare/locale/messages.pot -d backend/aftercare/locale --ignore-obsolete

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache .hypothesis
