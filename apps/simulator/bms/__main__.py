"""`python -m apps.simulator.bms`: the simulated BMS of every demo facility, until SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading

from apps.simulator.bms.field import BmsField
from apps.simulator.bms.server import serve
from sems import logs
from sems.facilities import demo_fleet
from sems.settings import get_settings

log = logging.getLogger("apps.simulator.bms")


def main() -> None:
    settings = get_settings()
    logs.configure("bms-simulator", settings.log_level)
    count = settings.bms_facilities or settings.simulator_facilities
    server = serve(BmsField(demo_fleet(count, settings.simulator_meters)), settings.host, settings.bms_port)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log.info("serving", extra={"fields": {"facilities": count, "port": settings.bms_port}})
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
