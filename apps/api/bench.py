"""`sems bench api`: latency of `/v1/facilities/{id}/current` at a fixed request rate with the cache warm.

This process is the load generator; the API is the stack's own uvicorn process, so client
and server are two processes on one machine. Requests are scheduled open-loop at a fixed
rate over a pool of keep-alive connections, and latency is counted from each request's
scheduled time, so a slow server cannot slow the offered load down and hide its own latency.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from typing import Annotated

import typer

from apps.api import dev_issuer
from sems.facilities import demo_fleet
from sems.settings import Settings, get_settings

app = typer.Typer(help="Benchmark the read API.")
REQUEST_TIMEOUT_S = 10.0


class _Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a lean client, so the client is not what is measured."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, str]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {self.token}\r\n\r\n"
                          .encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in head[1:] if ": " in line)
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(head[0].split()[1]), headers.get("x-cache", "-")


async def _worker(conn: _Connection, queue: asyncio.Queue[tuple[str, float] | None], latencies: list[float],
                  outcomes: Counter[str]) -> None:
    while (item := await queue.get()) is not None:
        path, scheduled = item
        try:
            # A request the server never answers must not hang the bench: it counts as a timeout.
            status, cache = await asyncio.wait_for(conn.get(path), REQUEST_TIMEOUT_S)
            outcomes[f"{status} {cache}"] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
            outcomes[type(exc).__name__] += 1
            conn.writer = None
            continue
        latencies.append(time.perf_counter() - scheduled)  # from the scheduled send time: queueing counts


async def _run(
    settings: Settings, rate: float, duration_s: float, connections: int
) -> tuple[list[float], Counter[str]]:
    fleet = [f.facility_id for f in demo_fleet(settings.simulator_facilities, settings.simulator_meters)]
    token = dev_issuer.mint(settings, fleet, subject="bench")
    paths = [f"/v1/facilities/{fid}/current" for fid in fleet]
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    conns = [_Connection(settings.host, settings.api_port, token) for _ in range(connections)]
    for path in paths:  # warm the cache
        status, _ = await conns[0].get(path)
        if status != 200:
            raise OSError(f"warm-up of {path} answered {status}")
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    workers = [asyncio.create_task(_worker(c, queue, latencies, outcomes)) for c in conns]
    start = time.perf_counter()
    for i in range(int(rate * duration_s)):
        scheduled = start + i / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((paths[i % len(paths)], scheduled))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    outcomes["achieved_rps"] = round(len(latencies) / (time.perf_counter() - start))
    return latencies, outcomes


def _quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1] if len(values) > 1 else 0.0


@app.callback(invoke_without_command=True)
def bench(
    rate: Annotated[float, typer.Option(help="Requests per second offered.")] = 500.0,
    duration: Annotated[float, typer.Option(help="Seconds of load.")] = 30.0,
    connections: Annotated[int, typer.Option(help="Client connection pool size.")] = 64,
) -> None:
    """Offer RATE requests/s for DURATION s to the running API; print p50/p90/p99/max latency and outcomes."""
    settings = get_settings()
    load_before = os.getloadavg()[0]  # the machine is shared: every figure goes with its load average
    try:
        latencies, outcomes = asyncio.run(_run(settings, rate, duration, connections))
    except OSError as exc:
        typer.echo(f"error: the API at {settings.host}:{settings.api_port} did not answer the warm-up: {exc}", err=True)
        raise typer.Exit(1) from None
    ms = [v * 1000 for v in latencies]
    typer.echo(f"requests: {len(ms)} ok of {int(rate * duration)} offered at {rate:.0f}/s for {duration:.0f} s")
    typer.echo(f"outcomes: {dict(outcomes)}")
    typer.echo(f"load average (1 min): {load_before:.1f} before / {os.getloadavg()[0]:.1f} after")
    if ms:
        typer.echo(f"latency ms: p50 {_quantile(ms, 0.5):.1f}  p90 {_quantile(ms, 0.9):.1f}  "
                   f"p99 {_quantile(ms, 0.99):.1f}  max {max(ms):.1f}")
