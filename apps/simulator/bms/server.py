"""The HTTP front of the simulated BMSs: SOAP at `/bms/<facility_id>`, fault injection and state as JSON.

- `POST /bms/<id>` (SOAP), `GET /bms/<id>?wsdl`: the facility's BMS.
- `PUT /faults/<id>` `{"mode": "hang", "seconds": 30, "count": 1}`; `DELETE /faults/<id>`: inject / clear.
- `GET /state/<id>`: controls, load, how often each idempotency key was applied.
- `GET /healthz`.
Every request runs on its own thread, so a hung facility never blocks another.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from apps.simulator.bms.field import FAULT_MODES, BmsField, Fault
from apps.simulator.bms.soap import wsgi_app

StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        """Access logs off: the SOAP calls are counted by the client's metrics."""


def _json(start: StartResponse, status: str, body: object) -> list[bytes]:
    start(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


class BmsFront:
    """Routes requests to the SOAP app (per facility) or the admin endpoints."""

    def __init__(self, field: BmsField) -> None:
        self.field = field
        self.soap = wsgi_app()

    def __call__(self, environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        parts = environ.get("PATH_INFO", "/").strip("/").split("/")
        if parts == ["healthz"]:
            return _json(start, "200 OK", {"status": "up", "facilities": len(self.field.sites)})
        if len(parts) != 2 or parts[0] not in ("bms", "faults", "state"):
            return _json(start, "404 Not Found", {"detail": "no such path"})
        kind, facility_id = parts
        if facility_id not in self.field.sites:
            return _json(start, "404 Not Found", {"detail": f"unknown facility {facility_id}"})
        if kind == "state":
            return _json(start, "200 OK", self.field.snapshot(facility_id))
        if kind == "faults":
            return self._faults(environ, start, facility_id)
        return self._soap(environ, start, facility_id)

    def _faults(self, environ: dict[str, Any], start: StartResponse, facility_id: str) -> list[bytes]:
        if environ["REQUEST_METHOD"] == "DELETE":
            self.field.set_fault(facility_id, None)
            return _json(start, "200 OK", {"fault": None})
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(size) or b"{}")
        if body.get("mode") not in FAULT_MODES:
            return _json(start, "422 Unprocessable Entity", {"detail": f"mode must be one of {FAULT_MODES}"})
        fault = Fault(body["mode"], float(body.get("seconds", 3600.0)), body.get("count"))
        self.field.set_fault(facility_id, fault)
        return _json(start, "200 OK", {"fault": fault.mode})

    def _soap(self, environ: dict[str, Any], start: StartResponse, facility_id: str) -> Iterable[bytes]:
        is_wsdl = environ["REQUEST_METHOD"] == "GET"
        fault = None if is_wsdl else self._transport_fault(facility_id)
        if fault is not None and fault.mode == "http500":
            start("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"injected HTTP 500"]
        environ.update({"sems.bms_field": self.field, "sems.facility_id": facility_id})
        body = list(self.soap(environ, start))
        if environ.get("sems.lose_response"):
            time.sleep(600)  # the answer never arrives: the client times out, the command stands applied
        return body

    def _transport_fault(self, facility_id: str) -> Fault | None:
        """Faults that act before SOAP: latency and hangs delay, HTTP 500 refuses; others are left to SOAP."""
        site = self.field.sites[facility_id]
        if site.fault is None or site.fault.mode not in ("latency", "hang", "http500"):
            return None
        fault = self.field.take_fault(facility_id)
        if fault is not None and fault.mode in ("latency", "hang"):
            time.sleep(fault.seconds)
        return fault


class BmsServer:
    """The BMS front served from a daemon thread of the simulator process; `close()` stops it."""

    def __init__(self, field: BmsField, host: str, port: int) -> None:
        self._server = make_server(host, port, BmsFront(field), server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="bms", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve(field: BmsField, host: str, port: int) -> BmsServer:
    """Serve `field` on host:port from a background thread (OSError if the port is taken)."""
    return BmsServer(field, host, port)
