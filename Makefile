# SEMS: `make up` runs the platform, `make test` passes the tests. Both set up what is missing.
.PHONY: up test setup down status lint
SHELL := /bin/bash

setup: .venv/.synced

.venv/.synced: uv.lock pyproject.toml scripts/bootstrap.sh
	@scripts/bootstrap.sh

up: setup
	.venv/bin/sems stack up --attach

test: setup
	scripts/test.sh

down: setup
	.venv/bin/sems stack down

status: setup
	.venv/bin/sems stack status

lint: setup
	.venv/bin/ruff check . && .venv/bin/mypy
