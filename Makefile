# The few commands people type. `make demo` and `make test` install what they need first.
PYTHON ?= python3

.PHONY: install services demo test lint bench

install:
	scripts/install.sh

services:
	scripts/services.sh

demo: install
	$(PYTHON) -m pixl demo

test: install services
	$(PYTHON) -m pytest -q

lint:
	ruff check pixl tests benchmarks celeryconfig.py alembic
	ruff format --check pixl tests benchmarks celeryconfig.py alembic
	mypy

bench: install
	for script in benchmarks/bench_*.py; do $(PYTHON) $$script || exit 1; done
