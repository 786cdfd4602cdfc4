# The README's commands. `make demo` runs a demo; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (never a downloaded one) and
# check every page with axe-core from the npm registry.
CHROMIUM := /usr/bin/chromium
AXE := .cache/npm/node_modules/axe-core/axe.min.js
# The suite runs a second time on PostgreSQL; the database is created if missing.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/aftercare_test

.PHONY: install demo serve test lint test-sqlite test-postgres wheel messages bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable '.[test]'
	touch $@

demo: install
	AFTERCARE_DEMO=1 $(BIN)/aftercare demo
	AFTERCARE_DEMO=1 $(BIN)/aftercare serve

test: lint test-sqlite test-postgres

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

$(AXE):
	npm install --silent --no-audit --no-fund --prefix .cache/npm axe-core@4.10.2

test-sqlite: install $(CHROMIUM) $(AXE)
	$(BIN)/pytest

test-postgres: install $(CHROMIUM) $(AXE)
	AFTERCARE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -m "not packaging"

bench: install $(CHROMIUM)
	@command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python bench/checkins.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/budgets.py
	$(BIN)/python bench/console.py

wheel: install
	$(BIN)/python -m build --wheel

# Extract the strings marked for translation and merge them into each language.
messages: install
	$(BIN)/pybabel extract --no-location --sort-output -F babel.cfg -o backend/aftercare/locale/messages.pot backend frontend/templates
	$(BIN)/pybabel update -i backend/aftercare/locale/messages.pot -d backend/aftercare/locale --ignore-obsolete

clean:
	rm -rf $(VENV) dist build .mypy_cache .ruff_cache .pytest_cache .hypothesis
