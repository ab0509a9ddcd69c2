# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
NPM_STAMP := static/node_modules/.installed
NPM_DEV_STAMP := static/node_modules/.installed-dev
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

CATALOGUES := $(patsubst %.po,%.mo,$(wildcard telemed/translations/*/LC_MESSAGES/messages.po))

.PHONY: run test test-sqlite test-postgres install install-dev browser-libs browser-test-libs catalogues bench clean

run: install browser-libs catalogues
	$(BIN)/telemed db upgrade
	$(BIN)/telemed demo-data
	$(BIN)/telemed serve --host 127.0.0.1 --port 5000

# What running needs; the test tools (pytest, Playwright, schemathesis...) only for make test.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

install-dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# The libraries the pages use; the browser tests' tools (axe-core) only for make test.
browser-libs: $(NPM_STAMP)

$(NPM_STAMP): static/package.json static/package-lock.json
	cd static && npm ci --omit=dev --no-audit --no-fund
	touch $(NPM_STAMP)

browser-test-libs: $(NPM_DEV_STAMP)

$(NPM_DEV_STAMP): static/package.json static/package-lock.json
	cd static && npm ci --no-audit --no-fund
	touch $(NPM_STAMP) $(NPM_DEV_STAMP)

# The Russian and Kazakh interface: gettext catalogues compiled from the .po files in the repository.
catalogues: $(CATALOGUES)

telemed/translations/%/LC_MESSAGES/messages.mo: telemed/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

# The whole suite, on the embedded SQLite and, when TELEMED_TEST_DATABASE_URL or a local
# PostgreSQL is reachable, on PostgreSQL too (under CI=true PostgreSQL is required).
test: install-dev browser-test-libs catalogues
	TELEMED_TEST_DATABASE_URL= $(BIN)/python -m pytest
	TELEMED_TEST_DATABASE_URL=$${TELEMED_TEST_DATABASE_URL:-$(PG_TEST_URL)} $(BIN)/python -m pytest

bench: install-dev browser-test-libs catalogues
	$(BIN)/python bench/post_page_bench.py
	$(BIN)/python bench/coverage_bench.py
	$(BIN)/python bench/export_bench.py
	$(BIN)/python bench/rooms_bench.py
	$(BIN)/python bench/claim_cost_bench.py
	$(BIN)/python bench/sweep_cost_bench.py
	$(BIN)/python bench/socket_limits_bench.py
	$(BIN)/python bench/dispatch_bench.py $(DISPATCH_BENCH_ARGS)

clean:
	rm -rf $(VENV) static/node_modules .pytest_cache $(CATALOGUES)
