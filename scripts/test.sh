#!/usr/bin/env bash
# `make test`: lint, start an isolated test stack (own ports and state dir), run pytest, always stop the stack.
set -uo pipefail
cd "$(dirname "$0")/.."
export SEMS_ENV=test SEMS_STATE_DIR=.sems-test SEMS_PORT_OFFSET=1000
export SEMS_SIMULATOR_INTERVAL_S="${SEMS_SIMULATOR_INTERVAL_S:-5}"
sems=.venv/bin/sems

.venv/bin/ruff check . || exit 1
.venv/bin/mypy || exit 1

trap '$sems stack down' EXIT
started=$(date +%s)
$sems stack up || { echo "error: the test stack did not come up; logs are in $SEMS_STATE_DIR/logs" >&2; exit 1; }
echo "test stack up in $(( $(date +%s) - started ))s"
.venv/bin/pytest "$@"
