"""The forecast-buffer sensor: forecasts buffered in Kafka during an outage go back as soon as PostgreSQL takes them.

`load_forecast` replays the buffer at the start of every run too, but that can be 15
minutes after PostgreSQL is back; this sensor checks every `forecast_replay_interval_s`.
It does the replay itself instead of requesting a run: the work is one bounded Kafka ->
PostgreSQL copy (`sems.forecast_buffer.replay` with a time budget), exactly once by the
table's primary key and offsets committed after PostgreSQL, so it needs no run machinery
that might itself depend on PostgreSQL. The cursor keeps the running total and the last
replay, for the UI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor
from sqlalchemy.exc import DBAPIError

from sems import forecast_buffer
from sems.settings import Settings, get_settings

BUDGET_S = 30.0  # well inside Dagster's sensor evaluation timeout; the rest waits for the next tick


def replay_tick(settings: Settings, cursor: str | None) -> SensorResult | SkipReason:
    """One tick: replay what waits if PostgreSQL takes it; the cursor counts what was replayed."""
    waiting = forecast_buffer.pending(settings)
    if not waiting:
        return SkipReason("the forecast buffer is empty")
    try:
        replayed = forecast_buffer.replay(settings, budget_s=BUDGET_S)
    except DBAPIError as exc:
        return SkipReason(f"{waiting} buffered forecast rows wait: PostgreSQL refuses writes "
                          f"({str(exc.orig or exc).splitlines()[0]})")
    state = json.loads(cursor) if cursor else {}
    state = {"replayed_total": state.get("replayed_total", 0) + replayed,
             "last_replay": datetime.now(UTC).isoformat(), "last_rows": replayed}
    return SensorResult(skip_reason=SkipReason(f"replayed {replayed} buffered forecast rows into PostgreSQL"),
                        cursor=json.dumps(state))


@sensor(name="forecast_buffer_replay", minimum_interval_seconds=get_settings().forecast_replay_interval_s,
        default_status=DefaultSensorStatus.RUNNING,
        description="Replays forecasts buffered in Kafka into PostgreSQL as soon as it accepts writes again.")
def forecast_buffer_replay(context: SensorEvaluationContext) -> SensorResult | SkipReason:
    return replay_tick(get_settings(), context.cursor)
