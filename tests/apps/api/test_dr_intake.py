"""The inbox transaction against the real PostgreSQL: what each refusal leaves behind, and updates."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from apps.api.dr.intake import Delivery, IntakeRefused, accept
from apps.api.dr.payloads import parse
from sems.settings import Settings
from sems.stores import postgres


@pytest.fixture(scope="module")
def db(settings: Settings) -> Iterator[Engine]:
    engine = postgres.engine(settings)
    yield engine
    engine.dispose()


def _request(event_id: str, revision: int, *, facility_ids: tuple[str, ...] = ("fac-001",), hours: int = 1,
             cancelled: bool = False) -> dict[str, object]:
    start = datetime(2030, 1, 1, 12, tzinfo=UTC)
    return {"event_id": event_id, "revision": revision, "facility_ids": list(facility_ids),
            "start": start.isoformat(), "end": (start + timedelta(hours=hours)).isoformat(),
            "target_reduction_kw": 25.0, **({"status": "cancelled"} if cancelled else {})}


def _deliver(db: Engine, document: dict[str, object], utility: str = "util-a") -> dict[str, object]:
    return accept(db, Delivery(f"msg_{uuid.uuid4().hex}", utility, "trace-intake", document), parse(document))


def _count(db: Engine, table: str, event_id: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE event_id = :e"),  # noqa: S608 - fixed names
                                {"e": event_id}).scalar_one())


def test_an_update_moves_the_window_and_is_audited(db: Engine) -> None:
    event_id = f"intake-{uuid.uuid4().hex[:10]}"
    _deliver(db, _request(event_id, 0))
    answer = _deliver(db, _request(event_id, 1, facility_ids=("fac-001", "fac-002"), hours=3))
    assert answer == {"event_id": event_id, "revision": 1, "operation": "upsert",
                      "status_url": f"/v1/dr/events/{event_id}"}
    with db.connect() as conn:
        row = conn.execute(text("SELECT revision, ends_at - starts_at AS span FROM dr_events WHERE event_id = :e"),
                           {"e": event_id}).one()
    assert (row.revision, row.span) == (1, timedelta(hours=3))
    assert (_count(db, "dr_event_facilities", event_id), _count(db, "dr_audit_log", event_id),
            _count(db, "dr_inbox", event_id)) == (2, 2, 2)


def test_a_cancellation_keeps_the_window_and_gets_its_own_answer(db: Engine) -> None:
    event_id = f"intake-{uuid.uuid4().hex[:10]}"
    _deliver(db, _request(event_id, 0, hours=2))
    assert _deliver(db, _request(event_id, 1, cancelled=True))["operation"] == "cancel"
    with db.connect() as conn:
        span = conn.execute(text("SELECT ends_at - starts_at FROM dr_events WHERE event_id = :e"),
                            {"e": event_id}).scalar_one()
    assert span == timedelta(hours=2)


@pytest.mark.parametrize(("case", "status", "reason"), [
    ("other utility", 403, "belongs to another utility"),
    ("older revision", 409, "revision 1 is older than the stored 2"),
    ("unknown facility", 422, "unknown facility id(s): fac-404"),
])
def test_a_refusal_persists_nothing(db: Engine, case: str, status: int, reason: str) -> None:
    event_id = f"intake-{uuid.uuid4().hex[:10]}"
    _deliver(db, _request(event_id, 2))
    utility = "util-b" if case == "other utility" else "util-a"
    document = _request(event_id, 1 if case == "older revision" else 3,
                        facility_ids=("fac-001", "fac-404") if case == "unknown facility" else ("fac-001",))
    webhook_id = f"msg_{uuid.uuid4().hex}"
    with pytest.raises(IntakeRefused) as refused:
        accept(db, Delivery(webhook_id, utility, "trace-intake", document), parse(document))
    assert refused.value.status == status and reason in refused.value.reason
    with db.connect() as conn:
        claimed = conn.execute(text("SELECT count(*) FROM dr_webhook_deliveries WHERE webhook_id = :w"),
                               {"w": webhook_id}).scalar_one()
    assert claimed == 0  # the delivery id is not burnt by a refusal
    assert (_count(db, "dr_inbox", event_id), _count(db, "dr_audit_log", event_id)) == (1, 1)


def test_concurrent_deliveries_of_one_revision_make_one_event_and_one_answer(db: Engine) -> None:
    event_id = f"intake-{uuid.uuid4().hex[:10]}"
    document = _request(event_id, 0, facility_ids=("fac-001", "fac-002"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _deliver(db, document), range(16)))
    assert all(a == answers[0] for a in answers) and answers[0]["revision"] == 0
    assert (_count(db, "dr_inbox", event_id), _count(db, "dr_event_facilities", event_id),
            _count(db, "dr_audit_log", event_id)) == (1, 2, 1)
