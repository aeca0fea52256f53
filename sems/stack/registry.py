"""The services of the local stack, in start order (stop order is the reverse)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from sems.stack.service import Service, StackError

# Component modules in start order: stores first, then what uses them.
COMPONENTS = ("postgres", "redis", "mosquitto", "kafka", "questdb", "s3", "mlflow", "dagster", "apps")


def all_services() -> list[Service]:
    """Every service; each component module exports `SERVICE` or `SERVICES`."""
    services: list[Service] = []
    for name in COMPONENTS:
        # Imported here so `sems --help` stays fast.
        module = importlib.import_module(f"sems.stack.{name}")
        services.extend(module.SERVICES if hasattr(module, "SERVICES") else [module.SERVICE])
    return services


def select(names: Sequence[str]) -> list[Service]:
    """The named services in start order, or all of them; unknown names are an error."""
    services = all_services()
    if not names:
        return services
    known = {s.name for s in services}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise StackError(f"unknown service {', '.join(unknown)}: choose from {', '.join(sorted(known))}")
    return [s for s in services if s.name in names]
