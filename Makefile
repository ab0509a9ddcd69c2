# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := static/node_modules/.installed
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

CATALOGUES := $(patsubst %.po,%.mo,$(wildcard telemed/translations/*/LC_MESSAGES/messages.po))

.PHONY: run test test-sqlite test-postgres install browser-libs catalogues bench clean

run: install browser-libs catalogues
	$(BIN)/telemed db upgrade
	$(BIN)/telemed demo-data
	$(BIN)/telemed serve --host 127.0.0.1 --port 5000

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

browser-libs: $(NPM_STAMP)

$(NPM_STAMP): static/package.json static/package-lock.json
	cd static && npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

# The Russian and Kazakh interface: gettext catalogues compiled from the .po files in the repository.
catalogues: $(CATALOGUES)

telemed/translations/%/LC_MESSAGES/messages.mo: telemed/translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile -i $< -o $@

# The whole suite, on the embedded SQLite and, when TELEMED_TEST_DATABASE_URL or a local
# PostgreSQL is reachable, on PostgreSQL too (under CI=true PostgreSQL is required).
test: install browser-libs catalogues
	TELEMED_TEST_DATABASE_URL= $(BIN)/python -m pytest
	TELEMED_TEST_DATABASE_URL=$${TELEMED_TEST_DATABASE_URL:-$(PG_TEST_URL)} $(BIN)/python -m pytest

bench: install browser-libs catalogues
	$(BIN)/python bench/post_page_bench.py
	$(BIN)/python bench/coverage_bench.py
	$(BIN)/python bench/export_bench.py
	$(BIN)/python bench/dispatch_bench.py $(DISPATCH_BENCH_ARGS)

clean:
	rm -rf $(VENV) static/node_modules .pytest_cache $(CATALOGUES)
