"""The API service of the running test stack, and its behaviour when PostgreSQL cannot be reached."""

from __future__ import annotations

import socket

import httpx
from fastapi.testclient import TestClient

from apps.api.main import create_app
from sems.facilities import demo_fleet
from sems.settings import Settings
from tests.apps.api.conftest import Get
from tests.apps.api.test_cache import evict

TIMEOUT_S = 10.0


def _api(settings: Settings, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"http://{settings.host}:{settings.api_port}{path}", headers=headers, timeout=TIMEOUT_S)


def test_healthz_reports_postgres_up(settings: Settings) -> None:
    response = _api(settings, "/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["postgres"]["status"] == "up"


def test_facilities_lists_the_demo_fleet_with_meter_counts(settings: Settings, api_get: Get) -> None:
    response = api_get("/v1/facilities")
    assert response.status_code == 200
    listed = {f["facility_id"]: f for f in response.json()}
    for facility in demo_fleet(settings.simulator_facilities, settings.simulator_meters):
        row = listed[facility.facility_id]
        assert (row["name"], row["contract_demand_kw"], row["timezone"], row["country"]) == (
            facility.name, facility.contract_demand_kw, facility.timezone, facility.country
        )
        assert row["meter_count"] == len(facility.meter_ids)


def test_trace_id_is_taken_from_traceparent_and_echoed(settings: Settings) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    response = _api(settings, "/healthz", traceparent=f"00-{trace_id}-b7ad6b7169203331-01")
    assert response.headers["x-trace-id"] == trace_id
    fresh = _api(settings, "/healthz", **{"x-trace-id": "bad id with spaces"})
    assert fresh.headers["x-trace-id"] != "bad id with spaces" and len(fresh.headers["x-trace-id"]) == 32


def test_unknown_path_is_a_problem_document(settings: Settings) -> None:
    response = _api(settings, "/v1/no-such-resource")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404 and response.json()["trace_id"] == response.headers["x-trace-id"]


def test_metrics_count_requests_by_route(settings: Settings, api_get: Get) -> None:
    api_get("/v1/facilities")
    body = _api(settings, "/metrics").text
    assert 'sems_api_requests_total{method="GET",route="/v1/facilities",status="200"}' in body


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_down_gives_503_problems_not_tracebacks(settings: Settings, token: str) -> None:
    unreachable = settings.model_copy(update={"postgres_port": _closed_port(), "postgres_timeout_s": 1.0})
    with TestClient(create_app(unreachable)) as client:
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.headers["content-type"] == "application/problem+json"
        assert health.json()["checks"]["postgres"]["status"] == "down"
        # Nothing cached for this resource (a shared Redis may hold others): 503 with Retry-After.
        evict(settings, "dr-events:fac-001")
        events = client.get("/v1/facilities/fac-001/dr-events", headers={"Authorization": f"Bearer {token}"})
        assert events.status_code == 503
        assert "PostgreSQL" in events.json()["detail"] and int(events.headers["retry-after"]) >= 1


def test_an_unhandled_error_is_a_500_problem_with_the_trace_id(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug of ours")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"x-trace-id": "trace-of-the-bug"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-trace-id"] == "trace-of-the-bug"
    assert "a bug of ours" not in response.text  # details stay in the log, under the trace id
