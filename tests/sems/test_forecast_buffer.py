"""C1: forecasts PostgreSQL refuses go to Kafka and are replayed exactly once when it is back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from sems import forecast_buffer
from sems.settings import Settings
from sems.stack import controller
from sems.stores import kafka, postgres
from tests.support import wait_until


def _rows(facility_id: str, generated_at: datetime) -> list[dict[str, object]]:
    start = generated_at.replace(minute=0, second=0, microsecond=0)
    return [{"facility_id": facility_id, "ts": start + timedelta(minutes=15 * i), "generated_at": generated_at,
             "p10": 1.0, "p50": 2.0 + i, "p90": 9.0 + i, "model_version": "test", "source": "fallback",
             "data_quality_score": 0.3} for i in range(8)]


def _stored(settings: Settings, generated_at: datetime) -> list[tuple[object, ...]]:
    db = postgres.engine(settings)
    try:
        with db.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT facility_id, ts, count(*) OVER (PARTITION BY facility_id, ts) FROM load_forecasts "
                "WHERE generated_at = :g ORDER BY ts"), {"g": generated_at})]
    finally:
        db.dispose()


def _replayed(settings: Settings, generated_at: datetime, expected: int) -> list[tuple[object, ...]] | None:
    forecast_buffer.replay(settings)
    stored = _stored(settings, generated_at)
    return stored if len(stored) == expected else None


def test_forecasts_survive_a_postgres_outage_via_kafka(settings: Settings) -> None:
    kafka.ensure_topics(settings)
    forecast_buffer.replay(settings)  # start from an empty buffer for this group
    facility_id = "fac-001"  # a seeded facility (the FK holds)
    generated_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400 + uuid.uuid4().int % 1000)
    rows = _rows(facility_id, generated_at)

    controller.down(settings, ["postgres"], report=lambda _: None)
    try:
        outcome = forecast_buffer.write(settings, rows)
        assert outcome.stored == 0 and outcome.buffered == len(rows) and outcome.error
    finally:
        controller.up(settings, ["postgres"], report=lambda _: None)

    # Replayed by whoever gets there first: this call, or the stack's `forecast_buffer_replay` sensor
    # (the same consumer group, and it replays as soon as PostgreSQL answers); either way every row lands.
    stored = wait_until(lambda: _replayed(settings, generated_at, len(rows)), timeout_s=120,
                        what="the buffered forecasts in PostgreSQL")
    assert stored is not None and [r[1] for r in stored] == [r["ts"] for r in rows]
    # A replay that repeats rows (a crash after the insert, before the offset commit) changes nothing.
    forecast_buffer.insert(settings, rows[:3])
    stored = _stored(settings, generated_at)
    assert [r[1] for r in stored] == [r["ts"] for r in rows]
    assert all(r[2] == 1 for r in stored)  # each row exactly once
