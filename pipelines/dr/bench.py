"""`sems bench dr`: webhook intake latency at a fixed rate, and webhook-to-confirmed dispatch with a hung BMS.

Intake: signed plain-JSON events posted open-loop at `--rate` for `--seconds` to the stack's
API (new event ids, so each is a real insert); p50/p99 of the 202s.

Dispatch: the bench seeds its own `--facilities` facilities (`bench-001`... in PostgreSQL,
no meters), serves their BMSs from a process of its own with the simulator's SOAP front and
facility models (`pipelines.dr.bench_bms`), `--hung` of them hanging, and points the facilities'
`bms_url` at it. Each of `--events` events starts within the dispatch lead, so it takes the
stack's real path: webhook -> inbox -> `dr_inbox_sensor` tick -> the daemon launches a
`dr_dispatch` run -> the saga commands and confirms. The clock runs from the POST to the last
healthy facility's confirmation as PostgreSQL recorded it. Events go one after the other, like
consecutive events of one utility: each is cancelled through the webhook once measured, and the
next is posted only when its release run has ended (after the dispatch run gave up on the hung BMS).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import typer
from sqlalchemy import Engine, text

from apps.api.dr.signatures import sign
from pipelines.dr.bench_bms import bms_fleet
from pipelines.dr.runtime import saga_for
from pipelines.dr.store import TERMINAL
from sems.facilities import Facility, demo_fleet
from sems.settings import Settings, get_settings
from sems.stores import postgres
from sems.stores.seed import seed_facilities

app = typer.Typer(help="Benchmark demand response: webhook intake and dispatch.")


def _signed(settings: Settings, document: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body, webhook_id, ts = json.dumps(document).encode(), f"msg_{uuid.uuid4().hex}", int(time.time())
    secret = next(iter(settings.dr_webhook_secrets.values())).get_secret_value()
    return body, {"webhook-id": webhook_id, "webhook-timestamp": str(ts),
                  "webhook-signature": sign(secret, webhook_id, ts, body), "content-type": "application/json"}


def _event(facility_ids: list[str], starts_in: timedelta = timedelta(days=1)) -> dict[str, object]:
    start = datetime.now(UTC) + starts_in
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
    events: Annotated[int, typer.Option(help="events dispatched one after the other (0: no dispatch run)")] = 5,
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
        _cancel_intake_events(settings)
    if events > 0:
        dispatch_bench(settings, fleet, hung, events)


def dispatch_bench(settings: Settings, fleet: list[Facility], hung: int, events: int) -> None:
    """Events through the stack's real path (webhook, sensor, Dagster run), one after the other; print the figure."""
    ids, hung_ids = [f.facility_id for f in fleet], {f.facility_id for f in fleet[:hung]}
    engine = postgres.engine(settings.model_copy(update={"postgres_timeout_s": max(settings.postgres_timeout_s, 30.0)}))
    results: list[Dispatched] = []
    posted: list[str] = []
    try:
        with bms_fleet(fleet, settings.host) as bms:
            _point_at(engine, ids, bms)
            for facility_id in hung_ids:
                httpx.put(f"{bms}/faults/{facility_id}", json={"mode": "hang", "seconds": 3600}, timeout=10.0)
            try:
                for _ in range(events):
                    results.append(_dispatch_one(settings, engine, ids, hung_ids, posted))
                    typer.echo(results[-1].line())
            finally:
                for facility_id in hung_ids:
                    httpx.delete(f"{bms}/faults/{facility_id}", timeout=10.0)
                leftovers = _release_leftovers(settings, engine, posted)
    finally:
        engine.dispose()
    timings, healthy = [r.seconds for r in results], len(ids) - len(hung_ids)
    typer.echo(f"dispatch: {healthy} healthy of {len(ids)} facilities ({len(hung_ids)} hung), webhook POST -> sensor"
               f" -> Dagster run -> every healthy facility confirmed, over {len(results)} events: p50"
               f" {_percentile(timings, 50):.2f} s, p99 {_percentile(timings, 99):.2f} s, max {max(timings):.2f} s;"
               f" confirmed per event: {', '.join(f'{r.confirmed}/{healthy}' for r in results)}"
               f" (load average {os.getloadavg()[0]:.2f}); released: {', '.join(r.released for r in results)}"
               f"{'; left over, released here: ' + ', '.join(leftovers) if leftovers else ''}")


@dataclasses.dataclass(frozen=True)
class Dispatched:
    """One event's way through the stack, in seconds after the webhook POST."""

    event_id: str
    seconds: float  # until the last healthy facility's commands were confirmed
    confirmed: int
    stages: dict[str, float]
    released: str

    def line(self) -> str:
        steps = ", ".join(f"{name} {at:.2f}" for name, at in self.stages.items())
        return f"{self.event_id}: {self.seconds:.2f} s ({steps}); {self.confirmed} confirmed; released: {self.released}"


def _point_at(engine: Engine, facility_ids: list[str], bms: str) -> None:
    """The bench facilities' BMS addresses are the bench's own BMS process (what the stack's runs will call)."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE facilities SET bms_url = :base || '/bms/' || facility_id"
                          " WHERE facility_id = ANY(:ids)"), {"base": bms, "ids": facility_ids})


def _dispatch_one(settings: Settings, engine: Engine, ids: list[str], hung: set[str],
                  posted: list[str]) -> Dispatched:
    """Post an event starting within the dispatch lead (dispatched at once), time it until every healthy facility
    is confirmed, then cancel it through the webhook and wait for its release run (which waits for the dispatch run
    to give up on the hung BMS): the next event meets an idle stack, as consecutive events of one utility would."""
    lead = min(60.0, settings.dr_dispatch_lead_s / 2)
    document = _event(ids, starts_in=timedelta(seconds=lead))
    event_id = str(document["event_id"])
    posted.append(event_id)
    sent = _post(settings, document)
    confirmed = _wait_settled(engine, event_id, set(ids) - hung)
    stages = _stages(settings, engine, event_id, set(ids) - hung, sent)
    _post(settings, {**document, "revision": 1, "status": "cancelled"})
    released = _wait_status(engine, event_id, lambda status: status in TERMINAL)
    _wait_run_ended(settings, "dr_release", event_id)  # verification and report too: the stack is idle again
    return Dispatched(event_id, stages.pop("confirmed"), confirmed, stages, released)


def _post(settings: Settings, document: dict[str, object]) -> float:
    """POST the signed document; the wall-clock time just before it was sent."""
    body, headers = _signed(settings, document)
    posted = time.time()
    httpx.post(f"http://{settings.host}:{settings.api_port}/v1/dr/events", content=body, headers=headers,
               timeout=30.0).raise_for_status()
    return posted


def _stages(settings: Settings, engine: Engine, event_id: str, healthy: set[str], posted: float) -> dict[str, float]:
    """Where the time went: inbox row, run queued by the sensor, run started, plan made, last healthy confirmation."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT (SELECT min(received_at) FROM dr_inbox WHERE event_id = :e) AS inbox,"
            " (SELECT min(ts) FROM dr_audit_log WHERE event_id = :e AND transition = 'event -> planned') AS planned,"
            " (SELECT max(updated_at) FROM dr_bms_commands WHERE event_id = :e AND action = 'apply'"
            "  AND state = 'confirmed' AND facility_id = ANY(:h)) AS confirmed"), {"e": event_id, "h": sorted(healthy)}
        ).one()
    run = _run(settings, "dr_dispatch", event_id)
    stamps = {"inbox": row.inbox.timestamp(), "run queued": run.get("creationTime"),
              "run started": run.get("startTime"), "planned": row.planned.timestamp(),
              "confirmed": row.confirmed.timestamp()}
    return {name: at - posted for name, at in stamps.items() if at is not None}


_RUNS = """query ($filter: RunsFilter) { runsOrError(filter: $filter) {
  ... on Runs { results { runId creationTime startTime endTime } } } }"""


def _run(settings: Settings, job: str, event_id: str) -> dict[str, float | None]:
    """The event's run of `job` as Dagster recorded it (creation = the sensor's request, start = RUN_START); {} if
    there is none yet."""
    variables = {"filter": {"pipelineName": job, "tags": [{"key": "dr/event_id", "value": event_id}]}}
    answer = httpx.post(f"http://{settings.host}:{settings.dagster_port}/graphql", timeout=30.0,
                        json={"query": _RUNS, "variables": variables}).json()
    runs = answer["data"]["runsOrError"].get("results") or [{}]
    return dict(runs[0])  # newest first


def _wait_run_ended(settings: Settings, job: str, event_id: str, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _run(settings, job, event_id).get("endTime") is not None:
            return
        time.sleep(1.0)
    typer.echo(f"event {event_id}: its {job} run did not end within {timeout_s:.0f} s", err=True)
    raise typer.Exit(1)


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
        time.sleep(0.2)
    typer.echo(f"event {event_id}: the healthy facilities were not all settled after 900 s", err=True)
    raise typer.Exit(1)


def _wait_status(engine: Engine, event_id: str, done: Callable[[str], bool], timeout_s: float = 900) -> str:
    """Poll the event's status until `done` says so; the status."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            status = str(conn.execute(text("SELECT status FROM dr_events WHERE event_id = :e"),
                                      {"e": event_id}).scalar_one())
        if done(status):
            return status
        time.sleep(0.5)
    typer.echo(f"event {event_id}: still {status} after {timeout_s:.0f} s", err=True)
    raise typer.Exit(1)


def _release_leftovers(settings: Settings, engine: Engine, event_ids: list[str]) -> list[str]:
    """Release here any event of this bench the stack did not finish (an interrupted bench): nothing stays
    overridden."""
    with engine.connect() as conn:
        open_events = list(conn.execute(text("SELECT event_id FROM dr_events WHERE event_id = ANY(:ids)"
                                             " AND status <> ALL(:done)"), {"ids": event_ids, "done": list(TERMINAL)}
                                        ).scalars())
    if open_events:
        with saga_for(settings) as saga:
            return [f"{e} {saga.release(e, reason='bench')}" for e in open_events]
    return []


def _cancel_intake_events(settings: Settings) -> None:
    """The intake events were never meant to run: cancel them (audited), so the sensor drops them."""
    with saga_for(settings) as saga, saga.engine.begin() as conn:
        conn.execute(text("INSERT INTO dr_audit_log (event_id, actor, transition, detail) SELECT event_id, 'bench',"
                          " 'event -> cancelled', '{\"reason\": \"benchmark event\"}' FROM dr_events"
                          " WHERE event_id LIKE 'bench-%' AND status = 'received'"))
        conn.execute(text("UPDATE dr_events SET status = 'cancelled', updated_at = now()"
                          " WHERE event_id LIKE 'bench-%' AND status = 'received'"))
