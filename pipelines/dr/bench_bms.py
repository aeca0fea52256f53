"""The bench's BMS fleet: the simulator's SOAP BMS front for N facilities, served from a process of its own.

A process of its own so that the BMSs' CPU does not share the GIL with the saga being
measured (in the field every BMS is a separate machine), and a deep accept backlog so 50
facilities connecting at once are not refused by the listen queue (the stdlib default is 5).
The fleet's facility models and SOAP front are the simulator's (`apps.simulator.bms`).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx

from apps.simulator.bms.field import BmsField
from apps.simulator.bms.server import BmsFront
from apps.simulator.facility_model import FacilityModel
from sems.facilities import Facility


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        """No access log."""


def _serve(fleet: list[Facility], host: str, ready: Connection) -> None:
    field = BmsField([FacilityModel(dataclasses.replace(f, meter_ids=(f"{f.facility_id}-m01",))) for f in fleet])
    server = make_server(host, 0, BmsFront(field), server_class=_Server, handler_class=_Quiet)
    ready.send(server.server_address[1])
    server.serve_forever()


@contextmanager
def bms_fleet(fleet: list[Facility], host: str) -> Iterator[str]:
    """Serve the fleet's BMSs until the block ends; yields the base URL (`/bms/<id>`, `/faults/<id>`)."""
    receive, send = multiprocessing.get_context("spawn").Pipe(duplex=False)
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(fleet, host, send), daemon=True)
    process.start()
    try:
        if not receive.poll(120):
            raise RuntimeError("the bench BMS process did not start within 120 s")
        url = f"http://{host}:{receive.recv()}"
        for facility in fleet:
            # Warm up: each facility model loads its weather station's typical year on first use (seconds each
            # on a loaded machine); a real BMS answers its first call as fast as any other.
            httpx.get(f"{url}/state/{facility.facility_id}", timeout=300.0).raise_for_status()
        yield url
    finally:
        process.terminate()
        process.join(timeout=10)
