# The few commands people type. `make demo` and `make test` install what they need first.
PYTHON ?= python3

.PHONY: install services demo test lint bench soak

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

bench: install services
	$(PYTHON) benchmarks/bench_anonymise.py
	$(PYTHON) benchmarks/bench_retrieve.py
	$(PYTHON) benchmarks/bench_throttle.py
	$(PYTHON) benchmarks/bench_upload.py
	$(PYTHON) benchmarks/bench_soak.py --studies 300

soak: install services  # 10,000 studies end to end: about 13 minutes on 2 cores
	$(PYTHON) benchmarks/bench_soak.py --studies 10000
