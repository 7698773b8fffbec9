# The two set-up commands are `make demo` and `make test`; each creates .venv when needed.
# `make demo` installs the runtime only; `make test` (and lint, format, bench) the dev tools too.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime

.PHONY: demo test lint format bench screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(RUNTIME)

# The runtime alone; already there when the dev tools were installed from the same pyproject.toml.
$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(RUNTIME)

# SERVE=1: then serve the pages on the demo's store, a token per role, until Ctrl-C.
demo: $(RUNTIME)
	$(BIN)/ledger demo $(if $(SERVE),--serve)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# -P keeps benchmarks/ off sys.path, where calendar.py would shadow the standard library.
# Snapshots are written and read only under a key, as in production.
bench: export LEDGER_SNAPSHOT_KEY ?= benchmark-snapshot-key-0123456789abcdef
bench: $(STAMP)
	$(BIN)/python -P benchmarks/calendar.py
	LEDGER_LOG_LEVEL=warning $(BIN)/python -P benchmarks/commands.py
	LEDGER_LOG_LEVEL=warning $(BIN)/python -P benchmarks/http.py
	LEDGER_LOG_LEVEL=warning $(BIN)/python -P benchmarks/board.py
	LEDGER_LOG_LEVEL=warning $(BIN)/python -P benchmarks/hot_account.py
	$(BIN)/python -P benchmarks/startup.py

# Every page as the admin sees it at 1440 and 390 px, into docs/screenshots/<page>-admin-<width>.png
# (headless Chromium at LEDGER_TEST_CHROMIUM, default /usr/bin/chromium); commit those the README shows.
screenshots: $(STAMP)
	LEDGER_SCREENSHOTS=docs/screenshots LEDGER_REQUIRE_BROWSER=1 $(BIN)/python -m pytest \
		tests/e2e/test_pages_layout.py -k "fits_the_screen and admin" -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
