"""`sems bench dr`: webhook intake latency at a fixed rate, and webhook-to-confirmed dispatch with a hung BMS.

Intake: signed plain-JSON events posted open-loop at `--rate` for `--seconds` to the stack's
API (new event ids, so each is a real insert); p50/p99 of the 202s.

Dispatch: the bench seeds its own `--facilities` facilities (`bench-001`... in PostgreSQL,
no meters) and serves their BMSs from a process of its own with the simulator's SOAP front and
facility models (`pipelines.dr.bench_bms`), `--hung` of them hanging. For each of `--events`
events the clock runs from the webhook POST to the moment every healthy facility's commands
are confirmed (the saga runs here right after the POST with the production BMS timeouts; the
events start tomorrow, so the stack's sensor leaves them alone: the sensor tick and
Dagster's run launch are not in the figure). Afterwards the hang is cleared and every event
released (devices restored).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from sqlalchemy import Engine, text

from apps.api.dr.signatures import sign
from pipelines.dr.bench_bms import bms_fleet
from pipelines.dr.runtime import saga_for
from pipelines.dr.saga import Saga
from sems.facilities import Facility, demo_fleet
from sems.settings import Settings, get_settings
from sems.stores.seed import seed_facilities

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


def bench_fleet(count: int) -> list[Facility]:
    """`count` facilities of the demo sites' shapes under bench ids, without meters (nothing publishes for them)."""
    return [dataclasses.replace(f, facility_id=f"bench-{n:03d}", name=f"Bench {f.name}", meter_ids=())
            for n, f in enumerate(demo_fleet(count, 0), start=1)]


async def _intake(settings: Settings, facility_id: str, rate: float, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    url = f"http://{settings.host}:{settings.api_port}/v1/dr/events"
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        async def one() -> None:
            nonlocal failures
            body, headers = _signed(settings, _event([facility_id]))
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
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else (values or [0.0])[0]


@app.command("dr")
def dr(
    facilities: Annotated[int, typer.Option(help="facilities in each event (seeded as bench-001...)")] = 50,
    hung: Annotated[int, typer.Option(help="facilities whose BMS hangs")] = 1,
    events: Annotated[int, typer.Option(help="events dispatched one after the other (0: no dispatch run)")] = 10,
    rate: Annotated[float, typer.Option(help="webhook requests per second")] = 100.0,
    seconds: Annotated[float, typer.Option(help="intake duration (0: no intake run)")] = 10.0,
) -> None:
    """Print intake p50/p99 and the webhook-to-all-healthy-confirmed p50/p99 over the events."""
    settings = get_settings()
    fleet = bench_fleet(facilities)
    seed_facilities(settings, fleet)
    typer.echo(f"load average (1 min) at start: {os.getloadavg()[0]:.2f}")
    if seconds > 0:
        latencies, failures = asyncio.run(_intake(settings, fleet[0].facility_id, rate, seconds))
        typer.echo(f"intake: {len(latencies)} accepted, {failures} failed, p50 {_percentile(latencies, 50) * 1000:.1f}"
                   f" ms, p99 {_percentile(latencies, 99) * 1000:.1f} ms at {rate:.0f}/s offered for {seconds:.0f} s"
                   f" (load average {os.getloadavg()[0]:.2f})")
    if events <= 0:
        return
    hung_ids = {f.facility_id for f in fleet[:hung]}
    # Connection timeouts are raised to 30 s for the bench only: on a machine this loaded a 5 s connect to
    # PostgreSQL can fail outright, which would count as a failed facility rather than a slow one.
    with bms_fleet(fleet, settings.host) as bms:
        bench_settings = settings.model_copy(update={
            "bms_url_template": bms + "/bms/{facility_id}",
            "postgres_timeout_s": max(settings.postgres_timeout_s, 30.0)})
        for facility_id in hung_ids:
            httpx.put(f"{bms}/faults/{facility_id}", json={"mode": "hang", "seconds": 3600}, timeout=10.0)
        try:
            with saga_for(bench_settings) as saga:
                timings, confirmed, runners, event_ids = _dispatch_all(
                    saga, bench_settings, [f.facility_id for f in fleet], hung_ids, events)
                for facility_id in hung_ids:
                    httpx.delete(f"{bms}/faults/{facility_id}", timeout=10.0)
                for runner in runners:
                    runner.join()
                released = [saga.release(event_id, reason="bench") for event_id in event_ids]
        finally:
            _cancel_intake_events(settings)
    healthy = facilities - len(hung_ids)
    typer.echo(f"dispatch: {healthy} healthy of {facilities} facilities ({len(hung_ids)} hung), webhook POST -> all"
               f" healthy settled over {events} events: p50 {_percentile(timings, 50):.2f} s, p99"
               f" {_percentile(timings, 99):.2f} s, max {max(timings):.2f} s; confirmed per event: "
               f"{', '.join(f'{c}/{healthy}' for c in confirmed)} (load average {os.getloadavg()[0]:.2f});"
               f" released: {', '.join(sorted(set(released)))}")


def _dispatch_all(saga: Saga, settings: Settings, ids: list[str], hung: set[str],
                  events: int) -> tuple[list[float], list[int], list[threading.Thread], list[str]]:
    """Post and dispatch `events` events one after the other: per event, the seconds from the webhook POST until
    every healthy facility is settled, and how many of them ended confirmed (`active`)."""
    timings, confirmed, runners, event_ids = [], [], [], []
    for _ in range(events):
        document = _event(ids)
        event_id = str(document["event_id"])
        body, headers = _signed(settings, document)
        started = time.perf_counter()
        httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", content=body, headers=headers,
                   timeout=30.0).raise_for_status()
        runner = threading.Thread(target=saga.dispatch, args=(event_id,), daemon=True)
        runner.start()
        confirmed.append(_wait_settled(saga.engine, event_id, set(ids) - hung))
        timings.append(time.perf_counter() - started)
        runners.append(runner)
        event_ids.append(event_id)
    return timings, confirmed, runners, event_ids


def _wait_settled(engine: Engine, event_id: str, healthy: set[str]) -> int:
    """Wait until every healthy facility is active, compensated or failed; how many are active."""
    sql = text("SELECT facility_id, state FROM dr_event_facilities WHERE event_id = :e"
               " AND state IN ('active', 'compensated', 'failed')")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            settled: dict[str, str] = dict(conn.execute(sql, {"e": event_id}).all())
        if healthy <= set(settled):
            return sum(settled[f] == "active" for f in healthy)
        time.sleep(0.05)
    typer.echo(f"event {event_id}: the healthy facilities were not all settled after 900 s", err=True)
    raise typer.Exit(1)


def _cancel_intake_events(settings: Settings) -> None:
    """The intake events were never meant to run: cancel them (audited), so the sensor drops them."""
    with saga_for(settings) as saga, saga.engine.begin() as conn:
        conn.execute(text("INSERT INTO dr_audit_log (event_id, actor, transition, detail) SELECT event_id, 'bench',"
                          " 'event -> cancelled', '{\"reason\": \"benchmark event\"}' FROM dr_events"
                          " WHERE event_id LIKE 'bench-%' AND status = 'received'"))
        conn.execute(text("UPDATE dr_events SET status = 'cancelled', updated_at = now()"
                          " WHERE event_id LIKE 'bench-%' AND status = 'received'"))
