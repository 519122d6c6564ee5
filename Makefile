# Folio's one entry point. `make up` runs the shop; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv: the one on PATH, else a private copy bootstrapped through pip into .tools/.
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
UV_VERSION := 0.13.8
RUN := $(UV) run --frozen

.PHONY: help install up status seed test check lint format typecheck proto bench-catalog bench-checkout bench-assistant system-deps clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

install: $(UV) ## install Python 3.12 deps from uv.lock into .venv
	$(UV) sync --all-packages --locked

up: install ## run every service locally on embedded defaults (Ctrl-C stops)
	$(RUN) folio up

status: ## which local services are healthy
	$(RUN) folio status

seed: install ## load the seed catalog (SYNTHETIC=10000 adds generated books)
	$(RUN) folio seed --synthetic $${SYNTHETIC:-0}

system-deps: ## Debian packages the tests start (PostgreSQL); installs them when missing and root
	@scripts/system-deps.sh

test: install system-deps lint ## everything CI runs: lint, types, unit, contract, end-to-end tests
	$(RUN) pytest

check: install lint ## quick loop: lint and the tests that need no servers
	$(RUN) pytest -m "not postgres and not e2e" -q

lint: install ## ruff and mypy, configured once at the root
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

proto: install ## regenerate proto/src from the .proto files
	$(RUN) python proto/generate.py

bench-catalog: install ## GET /api/v1/books/{id} through storefront->gRPC->catalog vs a bare FastAPI route
	$(RUN) python -m loadtest.bench_catalog

bench-checkout: install ## checkout p50/p99 at a steady arrival rate (RATE=10 per second)
	$(RUN) python -m loadtest.bench_checkout --rate $${RATE:-10}

bench-assistant: install ## assistant retrieval p50/p95 and round trips at BOOKS=10000 (embedded backends)
	$(RUN) python -m loadtest.bench_assistant --books $${BOOKS:-10000}

clean: ## remove local state (databases, caches); keeps .venv
	rm -rf .folio .pytest_cache .mypy_cache .ruff_cache bench-results
