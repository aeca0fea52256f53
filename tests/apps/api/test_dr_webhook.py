"""The DR webhook of the running API: signed intake, idempotency, and a precise problem for every bad input."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from apps.api.dr.signatures import sign
from sems.settings import Settings
from sems.stores import postgres

TIMEOUT_S = 10.0


def _post(settings: Settings, document: Any, *, webhook_id: str | None = None, ts: int | None = None,
          secret: str | None = None, raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps(document).encode()
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    ts = int(time.time()) if ts is None else ts
    secret = secret or next(iter(settings.dr_webhook_secrets.values())).get_secret_value()
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
               "webhook-signature": sign(secret, webhook_id, ts, body), "content-type": "application/json"}
    return httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", content=body, headers=headers,
                      timeout=TIMEOUT_S)


def _plain(**overrides: Any) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=2)
    return {"event_id": f"evt-{uuid.uuid4().hex[:12]}", "facility_ids": ["fac-001", "fac-002"],
            "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(),
            "target_reduction_kw": 80.0, **overrides}


def _openadr(event_id: str, operation: str = "POST", modified: str | int = "2026-06-01T12:00:00Z") -> dict[str, Any]:
    return {"objectType": "EVENT", "operation": operation, "object": {
        "id": event_id, "objectType": "EVENT", "programID": "peak-rebate", "modificationDateTime": modified,
        "intervalPeriod": {"start": "2026-06-02T17:00:00Z", "duration": "PT30M"},
        "targets": [{"type": "RESOURCE_NAME", "values": ["fac-003"]}],
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]},
                      {"id": 1, "payloads": [{"type": "SIMPLE", "values": [2]}]}]}}


def _assert_problem(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert fragment in json.dumps(response.json()), response.json()


def test_plain_event_is_accepted_with_status_url_and_visible(settings: Settings) -> None:
    document = _plain()
    response = _post(settings, document)
    assert response.status_code == 202
    assert response.headers["location"] == f"/v1/dr/events/{document['event_id']}"
    status = httpx.get(f"http://{settings.host}:{settings.api_port}{response.headers['location']}",
                       timeout=TIMEOUT_S).json()
    assert status["status"] == "received" and status["revision"] == 0
    assert [f["facility_id"] for f in status["facilities"]] == ["fac-001", "fac-002"]
    assert status["audit"][0]["transition"] == "upsert revision 0"


def test_same_revision_again_gets_the_same_answer_and_one_inbox_row(settings: Settings) -> None:
    document = _plain()
    first, again = _post(settings, document), _post(settings, document)
    assert (first.status_code, again.status_code) == (202, 202) and first.json() == again.json()
    db = postgres.engine(settings)
    with db.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM dr_inbox WHERE event_id = :e"),
                            {"e": document["event_id"]}).scalar_one()
    db.dispose()
    assert rows == 1


def test_replayed_webhook_id_is_refused(settings: Settings) -> None:
    document = _plain()
    assert _post(settings, document, webhook_id="msg_replay_" + document["event_id"]).status_code == 202
    _assert_problem(_post(settings, document, webhook_id="msg_replay_" + document["event_id"]), 409, "replay")


def test_forged_missing_and_stale_signatures_are_refused(settings: Settings) -> None:
    forged = "whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3ItdGVzdHM="
    _assert_problem(_post(settings, _plain(), secret=forged), 401, "no signature matches")
    _assert_problem(_post(settings, _plain(), ts=int(time.time()) - 301), 401, "allowed +/- 300 s")
    _assert_problem(_post(settings, _plain(), ts=int(time.time()) + 400), 401, "allowed +/- 300 s")
    bare = httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", json=_plain(), timeout=TIMEOUT_S)
    _assert_problem(bare, 401, "missing header(s): webhook-id, webhook-timestamp, webhook-signature")


def test_body_tampered_after_signing_is_refused(settings: Settings) -> None:
    document = _plain()
    webhook_id, ts = "msg_tamper", int(time.time())
    secret = next(iter(settings.dr_webhook_secrets.values())).get_secret_value()
    signature = sign(secret, webhook_id, ts, json.dumps(document).encode())
    tampered = json.dumps({**document, "target_reduction_kw": 9999.0}).encode()
    response = httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", content=tampered,
                          headers={"webhook-id": webhook_id, "webhook-timestamp": str(ts),
                                   "webhook-signature": signature}, timeout=TIMEOUT_S)
    _assert_problem(response, 401, "no signature matches")


def test_malformed_oversize_and_invalid_bodies_get_precise_reasons(settings: Settings) -> None:
    _assert_problem(_post(settings, None, raw=b"{not json"), 400, "body is not JSON")
    _assert_problem(_post(settings, None, raw=b" " * (settings.dr_webhook_max_bytes + 1)), 413, "larger than")
    backwards = _plain()
    backwards["end"] = backwards["start"]
    _assert_problem(_post(settings, backwards), 422, "end must be after start")
    _assert_problem(_post(settings, _plain(target_reduction_kw=-5)), 422, "target_reduction_kw")
    _assert_problem(_post(settings, _plain(facility_ids=["fac-999"])), 422, "unknown facility id(s): fac-999")


def test_openadr3_event_and_its_cancellation(settings: Settings) -> None:
    event_id = f"oadr-{uuid.uuid4().hex[:12]}"
    created = _post(settings, _openadr(event_id))
    assert created.status_code == 202 and created.json()["operation"] == "upsert"
    status = httpx.get(f"http://{settings.host}:{settings.api_port}/v1/dr/events/{event_id}", timeout=TIMEOUT_S)
    body = status.json()
    assert (body["starts_at"], body["ends_at"]) == ("2026-06-02T17:00:00+00:00", "2026-06-02T18:00:00+00:00")
    cancelled = _post(settings, _openadr(event_id, "DELETE"))
    assert cancelled.status_code == 202 and cancelled.json()["operation"] == "cancel"
    assert cancelled.json()["revision"] == created.json()["revision"] + 1


def test_openadr3_without_facility_targets_is_refused(settings: Settings) -> None:
    document = _openadr("oadr-no-target")
    document["object"]["targets"] = [{"type": "GROUP", "values": ["north"]}]
    _assert_problem(_post(settings, document), 422, "targets name no facility")
    document = _openadr("oadr-bad-level")
    document["object"]["intervals"][0]["payloads"] = [{"type": "SIMPLE", "values": [7]}]
    _assert_problem(_post(settings, document), 422, "SIMPLE levels must be 0, 1, 2 or 3")


def test_openadr3_modification_time_outside_the_revision_range_is_refused_not_a_server_error(
        settings: Settings) -> None:
    # The revision is 2 x seconds since 2024-01-01: 1970 (a Unix 0) or 2100 would not fit PostgreSQL's integer.
    for modified in (0, "2023-12-31T23:59:59Z", "2100-01-01T00:00:00Z"):
        document = _openadr(f"oadr-{uuid.uuid4().hex[:12]}", modified=modified)
        _assert_problem(_post(settings, document), 422, "modificationDateTime must be from 2024-01-01")


def test_unknown_event_is_a_404_problem(settings: Settings) -> None:
    response = httpx.get(f"http://{settings.host}:{settings.api_port}/v1/dr/events/nope", timeout=TIMEOUT_S)
    _assert_problem(response, 404, "no DR event nope")


def test_text_postgres_cannot_store_is_a_422_problem_not_a_server_error(settings: Settings) -> None:
    # Found by schemathesis: a NUL in event_id reached PostgreSQL and the webhook answered 500.
    _assert_problem(_post(settings, _plain(event_id="evt-\x00-nul")), 422, "$.event_id contains NUL")
    lone_surrogate = json.dumps(_plain(callback_url="https://cb.example/\ud800")).encode()
    _assert_problem(_post(settings, None, raw=lone_surrogate), 422, "$.callback_url contains a lone surrogate")
    openadr = _openadr(f"evt-{uuid.uuid4().hex[:12]}")
    openadr["object"]["programID"] = "peak\x00rebate"  # a field SEMS ignores is still stored with the document
    _assert_problem(_post(settings, openadr), 422, "$.object.programID contains NUL")
    _assert_problem(_post(settings, None, raw=b"[" * 50_000 + b"]" * 50_000), 400, "nested too deeply")
    unknown = httpx.get(f"http://{settings.host}:{settings.api_port}/v1/dr/events/evt%00x", timeout=TIMEOUT_S)
    _assert_problem(unknown, 404, "no DR event")
