# README entry points: `make run` and `make test` work on a fresh Debian 12 machine;
# scripts/bootstrap.sh installs whatever is missing (fast no-op when all is present).
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
VENV := .venv
BOOTSTRAP := bash scripts/bootstrap.sh

.PHONY: run test lint bench screenshots clean

run:
	$(BOOTSTRAP) run
	$(VENV)/bin/tutor serve --host $(HOST) --port $(PORT)

test:
	$(BOOTSTRAP) test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint:
	$(BOOTSTRAP) lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench:
	$(BOOTSTRAP) test
	$(VENV)/bin/python -m bench
	$(VENV)/bin/python -m bench.models
	$(VENV)/bin/python -m bench.grammar_eval --write
	$(VENV)/bin/python -m bench.intents --write

# The staff pages the README shows, saved by the browser tests into docs/screenshots/.
screenshots:
	$(BOOTSTRAP) test
	TUTOR_SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/python -m pytest -q tests/test_staff_browser.py

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache build dist
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
