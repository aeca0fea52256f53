"""`sems bench dr`: webhook intake latency at a fixed rate, and webhook-to-confirmed dispatch with hung BMSs.

Intake: signed plain-JSON events posted open-loop at `--rate` for `--seconds` to the
stack's API (new event ids, so each is a real insert); p50/p99 of the 202s.
Dispatch: one event over `--facilities` facilities (as many as the stack seeds and the
simulator serves), `--hung` of them hanging; the clock runs from the webhook POST to the
moment every healthy facility's commands are confirmed. The saga runs in this process
right after the POST (the event starts tomorrow, so the stack's sensor leaves it alone):
the sensor tick and Dagster's run launch are not in the figure.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from sqlalchemy import text

from apps.api.dr.signatures import sign
from pipelines.dr.runtime import saga_for
from sems.settings import Settings, get_settings

app = typer.Typer(help="Benchmark demand response: webhook intake and dispatch.")


def _signed(settings: Settings, document: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body, webhook_id, ts = json.dumps(document).encode(), f"msg_{uuid.uuid4().hex}", int(time.time())
    secret = next(iter(settings.dr_webhook_secrets.values())).get_secret_value()
    return body, {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
                  "webhook-signature": sign(secret, webhook_id, ts, body), "content-type": "application/json"}


def _event(facility_ids: list[str]) -> dict[str, object]:
    start = datetime.now(UTC) + timedelta(days=1)
    return {"event_id": f"bench-{uuid.uuid4().hex[:12]}", "facility_ids": facility_ids, "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(), "target_reduction_kw": 10.0 * len(facility_ids)}


async def _intake(settings: Settings, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    url = f"http://{settings.host}:{settings.api_port}/v1/dr/events"
    async with httpx.AsyncClient(timeout=10.0) as client:
        async def one() -> None:
            nonlocal failures
            body, headers = _signed(settings, _event(["fac-001"]))
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            if response.status_code == 202:
                latencies.append(time.perf_counter() - started)
            else:
                failures += 1

        tasks, begin = [], time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))  # open loop: fixed schedule
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, failures


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else (values or [0.0])[0]


@app.command("dr")
def dr(
    facilities: Annotated[int, typer.Option(help="facilities in the event")] = 50,
    hung: Annotated[int, typer.Option(help="facilities whose BMS hangs")] = 1,
    rate: Annotated[float, typer.Option(help="webhook requests per second")] = 100.0,
    seconds: Annotated[float, typer.Option(help="intake duration")] = 10.0,
) -> None:
    """Print intake p50/p99 and the webhook-to-all-healthy-confirmed time."""
    settings = get_settings()
    latencies, failures = asyncio.run(_intake(settings, rate, seconds))
    typer.echo(f"intake: {len(latencies)} accepted, {failures} failed, p50 {_percentile(latencies, 50) * 1000:.1f} ms,"
               f" p99 {_percentile(latencies, 99) * 1000:.1f} ms at {rate:.0f}/s offered")
    with saga_for(settings) as saga, saga.engine.connect() as conn:
        ids = list(conn.execute(text("SELECT facility_id FROM facilities ORDER BY facility_id LIMIT :n"),
                                {"n": facilities}).scalars())
    bms = f"http://{settings.host}:{settings.bms_port}"
    ids = [f for f in ids if httpx.get(f"{bms}/state/{f}", timeout=5.0).status_code == 200]
    for facility_id in ids[:hung]:
        httpx.put(f"{bms}/faults/{facility_id}", json={"mode": "hang", "seconds": 120}, timeout=5.0)
    try:
        typer.echo(_dispatch(settings, ids, set(ids[:hung])))
    finally:
        for facility_id in ids[:hung]:
            httpx.delete(f"{bms}/faults/{facility_id}", timeout=5.0)
        _cancel_intake_events(settings)


def _cancel_intake_events(settings: Settings) -> None:
    """The intake events were never meant to run: cancel them (audited), so the sensor drops them."""
    with saga_for(settings) as saga, saga.engine.begin() as conn:
        conn.execute(text("INSERT INTO dr_audit_log (event_id, actor, transition, detail) SELECT event_id, 'bench',"
                          " 'event -> cancelled', '{\"reason\": \"benchmark event\"}' FROM dr_events"
                          " WHERE event_id LIKE 'bench-%' AND status = 'received'"))
        conn.execute(text("UPDATE dr_events SET status = 'cancelled', updated_at = now()"
                          " WHERE event_id LIKE 'bench-%' AND status = 'received'"))


def _dispatch(settings: Settings, ids: list[str], hung: set[str]) -> str:
    document = _event(ids)
    body, headers = _signed(settings, document)
    with saga_for(settings) as saga:
        started = time.perf_counter()
        httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", content=body, headers=headers,
                   timeout=10.0).raise_for_status()
        runner = threading.Thread(target=saga.dispatch, args=(document["event_id"],), daemon=True)
        runner.start()
        healthy = set(ids) - hung
        sql = text("SELECT DISTINCT facility_id FROM dr_event_facilities WHERE event_id = :e AND state = 'active'")
        while True:
            with saga.engine.connect() as conn:
                if healthy <= set(conn.execute(sql, {"e": document["event_id"]}).scalars()):
                    break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        runner.join()
        saga.release(str(document["event_id"]), reason="bench")
    return (f"dispatch: {len(healthy)} healthy facilities commanded and confirmed {elapsed:.2f} s after the webhook"
            f" POST, {len(hung)} hung ({len(ids)} facilities available of those asked)")
