"""`python -m pipelines.dr dispatch|release EVENT_ID`: run one saga step outside Dagster (operations, crash drills)."""

from __future__ import annotations

import sys

from pipelines.dr.runtime import saga_for
from sems import logs
from sems.settings import get_settings


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("dispatch", "release"):
        print("usage: python -m pipelines.dr dispatch|release EVENT_ID", file=sys.stderr)  # noqa: T201
        return 2
    settings = get_settings()
    logs.configure("dr-saga", settings.log_level)
    step, event_id = argv
    with saga_for(settings) as saga:
        status = saga.dispatch(event_id) if step == "dispatch" else saga.release(event_id, reason="operator")
    print(status)  # noqa: T201 - the one line this command answers
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
