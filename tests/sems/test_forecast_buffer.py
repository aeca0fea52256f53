"""C1: forecasts PostgreSQL refuses go to Kafka and are replayed exactly once when it is back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from sems import forecast_buffer
from sems.settings import Settings
from sems.stack import controller
from sems.stores import kafka, postgres


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

    # Replayed twice (a crash after insert, before commit, is simulated by re-buffering the same rows).
    forecast_buffer.buffer(settings, rows[:3])
    assert forecast_buffer.replay(settings) == len(rows) + 3
    assert forecast_buffer.replay(settings) == 0
    stored = _stored(settings, generated_at)
    assert [r[1] for r in stored] == [r["ts"] for r in rows]
    assert all(r[2] == 1 for r in stored)  # each row exactly once
