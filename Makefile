# README entry points: `make run` and `make test` work on a fresh Debian 12 machine;
# scripts/bootstrap.sh installs whatever is missing (fast no-op when all is present).
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
VENV := .venv
BOOTSTRAP := bash scripts/bootstrap.sh

.PHONY: run test lint bench reliability fuzz screenshots clean

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

# The reliability suite with its long variants, written into docs/RELIABILITY.md (about 25 min).
reliability:
	$(BOOTSTRAP) test
	$(VENV)/bin/python -m bench.reliability --write
	$(VENV)/bin/python -m bench.reliability --long --write

# Coverage-guided fuzzing (atheris) of every target for a minute each.
fuzz:
	$(BOOTSTRAP) test
	$(VENV)/bin/python -m bench.fuzz all --seconds 60

# The staff pages the README shows, saved by the browser tests into docs/screenshots/.
screenshots:
	$(BOOTSTRAP) test
	TUTOR_SCREENSHOTS_DIR=docs/screenshots $(VENV)/bin/python -m pytest -q tests/test_staff_browser.py

clean:
	rm -rf var .hypothesis .pytest_cache .mypy_cache .ruff_cache build dist
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
