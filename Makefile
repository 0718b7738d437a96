# CareLoop: `make run` runs the whole system with a demo shop; `make test` runs every check.
# KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point both at existing servers instead of local ones.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
PY := .venv/bin/python
ENV := source .local/env.sh

.PHONY: help venv tools infra infra-down run test lint typecheck pytest bench generate clean

help:
	@echo "make run    set everything up and run CareLoop with a demo shop (Ctrl-C stops it all)"
	@echo "make test   set everything up and run ruff, mypy --strict and the whole test suite"
	@echo "make bench  run the benchmarks and write bench/results/latest.{md,json}"

venv: .venv/.synced
.venv/.synced: pyproject.toml uv.lock
	@bash deploy/local/python.sh
	touch $@

tools:
	@bash deploy/local/chromium.sh
	bash deploy/local/prometheus.sh
	bash deploy/local/compose-cli.sh

infra: venv
	@bash deploy/local/up.sh

infra-down:
	@bash deploy/local/down.sh

run: infra
	@$(ENV)
	trap 'bash deploy/local/down.sh' EXIT
	$(PY) -m demo.run

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: venv
	.venv/bin/mypy .

pytest: infra tools
	@$(ENV)
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test: infra tools
	@$(ENV)
	trap 'bash deploy/local/down.sh' EXIT
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy .
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: infra
	@$(ENV)
	trap 'bash deploy/local/down.sh' EXIT
	$(PY) -m bench.run $(BENCH_ARGS)

generate: venv
	$(PY) -m schemas.generate
	$(PY) -m services.openapi

clean: infra-down
	rm -rf .local .venv
