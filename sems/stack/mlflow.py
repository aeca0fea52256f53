"""mlflow service of the local stack (placeholder until written)."""

from sems.stack.service import Service

SERVICES: list[Service] = []
