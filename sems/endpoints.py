"""The HTTP endpoints of a long-running SEMS process that is not a web app: `/healthz` and `/metrics`.

`serve(host, port, health)` answers `/healthz` with 200 while `health()` says the process
works and 503 with the reason otherwise, and `/metrics` in the Prometheus text format, from
a daemon thread. With `ready=` it also answers `/readyz` (readiness: the dependencies are
there; liveness `/healthz` should not depend on them). `health` must be quick (the stack
probes with a 2 s timeout): report state kept up to date elsewhere, do not call other services from it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

# (healthy, reason): the reason says what is wrong, e.g. "kafka unreachable".
Health = Callable[[], tuple[bool, str]]

log = logging.getLogger(__name__)


class Endpoints:
    """A running endpoint server; `close()` stops it."""

    def __init__(
        self, host: str, port: int, health: Health, registry: CollectorRegistry = REGISTRY, ready: Health | None = None
    ) -> None:
        handler = _handler(health, registry, ready)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])  # the bound port (useful when asked for port 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="endpoints", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(
    host: str, port: int, health: Health, registry: CollectorRegistry = REGISTRY, ready: Health | None = None
) -> Endpoints:
    """Start serving `/healthz`, `/metrics` (and `/readyz` if `ready`) on host:port (OSError if the port is taken)."""
    return Endpoints(host, port, health, registry, ready)


def _answer(check: Health) -> tuple[int, bytes]:
    try:
        ok, reason = check()
    except Exception as exc:  # noqa: BLE001 - a broken check means unhealthy, not a dead endpoint
        ok, reason = False, f"health check failed: {exc!r}"
    body = json.dumps({"status": "ok" if ok else "unhealthy", "reason": reason}).encode()
    return (200 if ok else 503), body


def _handler(health: Health, registry: CollectorRegistry, ready: Health | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
            path = self.path.split("?", 1)[0]
            if path == "/healthz" or (path == "/readyz" and ready is not None):
                status, body = _answer(health if path == "/healthz" else ready)  # type: ignore[arg-type]
                self._send(status, "application/json", body)
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            else:
                self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
            log.debug("http %s", format % args)

    return Handler
