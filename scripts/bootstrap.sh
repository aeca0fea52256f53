#!/usr/bin/env bash
# Set up what the project needs on a fresh machine: uv, then the locked Python environment.
# Services (Kafka, QuestDB, PostgreSQL, ...) install themselves on first `sems stack up`.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
if ! command -v uv >/dev/null 2>&1; then
  echo "installing uv ${UV_VERSION} from PyPI"
  python3 -m pip install --quiet "uv==${UV_VERSION}" || { echo "error: could not install uv with pip; install it and retry" >&2; exit 1; }
fi
uv sync --frozen --quiet
touch .venv/.synced
