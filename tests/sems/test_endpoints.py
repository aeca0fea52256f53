"""/healthz and /metrics of non-web services: 200 or 503 with the reason, Prometheus text, 404 elsewhere."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry, Counter

from sems import endpoints


def test_health_reason_and_metrics_are_served() -> None:
    registry = CollectorRegistry()
    Counter("sems_test_things_total", "things", registry=registry).inc(3)
    state = {"ok": True}
    server = endpoints.serve(
        "127.0.0.1", 0, lambda: (state["ok"], "kafka reachable" if state["ok"] else "no kafka"), registry
    )
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok", "reason": "kafka reachable"}
        state["ok"] = False
        unhealthy = httpx.get(f"{base}/healthz", timeout=5)
        assert (unhealthy.status_code, unhealthy.json()["reason"]) == (503, "no kafka")
        assert "sems_test_things_total 3.0" in httpx.get(f"{base}/metrics", timeout=5).text
        assert httpx.get(f"{base}/other", timeout=5).status_code == 404
    finally:
        server.close()


def test_a_failing_health_check_means_unhealthy_not_a_dead_endpoint() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    server = endpoints.serve("127.0.0.1", 0, broken)
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
        assert response.status_code == 503 and "boom" in response.json()["reason"]
    finally:
        server.close()
