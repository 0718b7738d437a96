# CareLoop: `make run` runs the whole system with a demo shop; `make test` runs every check.
# KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point both at existing servers instead of local ones.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
PY := .venv/bin/python
ENV := source .local/env.sh

.PHONY: help venv tools infra infra-down run unit test lint typecheck pytest bench soak generate clean

# Every target line is listed; the text after its `## ` is the description.
help: ## list the targets
	@awk '/^[a-z][a-z0-9_-]*:([^=]|$$)/ { split($$0, d, "## "); sub(/:.*/, "", $$1); \
	  printf "make %-11s %s\n", $$1, d[2] }' $(MAKEFILE_LIST)

venv: .venv/.synced ## the Python environment exactly as uv.lock pins it
.venv/.synced: pyproject.toml uv.lock
	@bash deploy/local/python.sh
	touch $@

tools: ## Chromium, Prometheus, docker-compose, curl, jq, wrk and a C compiler for the tests and bench
	@bash deploy/local/chromium.sh
	bash deploy/local/prometheus.sh
	bash deploy/local/compose-cli.sh
	bash deploy/local/cli-tools.sh

infra: venv ## start the local Kafka and PostgreSQL (or use KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL)
	@bash deploy/local/up.sh

infra-down: ## stop the local Kafka and PostgreSQL
	@bash deploy/local/down.sh

# The exit trap comes before the infrastructure starts, so Ctrl-C during its start-up stops it too; the
# owner (this shell) lets down.sh stop what this run started whatever up.sh/down.sh ran meanwhile.
run: venv ## set everything up and run CareLoop with a demo shop (Ctrl-C stops it all)
	@export CARELOOP_INFRA_OWNER=$$$$
	trap 'bash deploy/local/down.sh' EXIT
	bash deploy/local/up.sh
	source "$${CARELOOP_LOCAL_DIR:-.local}/env.sh"
	$(PY) -m demo.run

lint: venv ## ruff (lint and format) and the import rules
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache

unit: lint ## the fast loop: lint, then every test needing no Kafka, Postgres or browser
	@bash deploy/local/prometheus.sh
	bash deploy/local/compose-cli.sh
	bash deploy/local/cli-tools.sh
	$(PY) -m pytest -p no:cacheprovider -m "not kafka and not postgres and not browser" $(PYTEST_ARGS)

typecheck: venv ## mypy --strict
	.venv/bin/mypy .

pytest: infra tools ## the test suite alone (PYTEST_ARGS=... to choose)
	@$(ENV)
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test: infra tools ## set everything up and run ruff, the import rules, mypy --strict and every test
	@$(ENV)
	trap 'bash deploy/local/down.sh' EXIT
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports --no-cache
	.venv/bin/mypy .
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

bench: infra ## run the benchmarks and write bench/results/latest.{md,json}
	@bash deploy/local/cli-tools.sh
	$(ENV)
	trap 'bash deploy/local/down.sh' EXIT
	$(PY) -m bench.run $(BENCH_ARGS)

# Its own Kafka and PostgreSQL on free ports (it stops and restarts them), never the shared ones.
soak: venv ## demo traffic under a chaos loop for SOAK_MINUTES (20), then checks: bench/results/soak.md
	$(PY) -m bench.soak $(SOAK_ARGS)

generate: venv ## regenerate the committed contracts: JSON schemas, AsyncAPI, topic map, OpenAPI
	$(PY) -m schemas.generate
	$(PY) -m tools.openapi

clean: infra-down ## stop the servers and remove .local and .venv
	rm -rf .local .venv
