"""`python -m apps.simulator`: the demo fleet's meters over MQTT and its BMSs over SOAP, until SIGTERM.

One process on purpose: the meter rounds and the SOAP BMSs (`apps/simulator/bms`, on
`settings.bms_port`) share each facility's `FacilityModel`, so a `SetLightingLevel` or
`SetZoneSetpoint` lowers the published kW from the next round, as in a real building.
With `simulator_backfill_days` > 0 it first writes the fleet's missing history to QuestDB's
rollups in a background thread (`backfill.py`), so a fresh stack can train a forecaster.

The first round goes out at once (so a fresh stack shows data within seconds), then one
every `settings.simulator_interval_s`, on a fixed schedule that does not drift with the
time a round takes. `/healthz` (on `simulator_port`) is 200 while every facility is
connected; `/metrics` counts what the broker acknowledged.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time

from apps.simulator.backfill import backfill_when_started
from apps.simulator.bms.field import BmsField
from apps.simulator.bms.server import serve as serve_bms
from apps.simulator.facility_model import FacilityModel
from apps.simulator.fleet import Fleet
from sems import endpoints, logs
from sems.facilities import demo_fleet
from sems.settings import Settings, get_settings

log = logging.getLogger("apps.simulator")


def facility_models(settings: Settings) -> list[FacilityModel]:
    """One model per facility that publishes meters or answers as a BMS (`bms_facilities` may be more)."""
    count = max(settings.simulator_facilities, settings.bms_facilities)
    seed = settings.simulator_seed
    return [FacilityModel(f, rng=random.Random(None if seed is None else seed + i))
            for i, f in enumerate(demo_fleet(count, settings.simulator_meters))]


def run(settings: Settings, stop: threading.Event) -> None:
    """Publish rounds and answer the BMSs until `stop` is set, then flush and disconnect."""
    models = facility_models(settings)
    fleet_models = models[: settings.simulator_facilities]
    fleet = Fleet(settings, fleet_models)
    bms_count = settings.bms_facilities or settings.simulator_facilities

    def health() -> tuple[bool, str]:
        missing = sorted({d.facility_id for d in fleet.devices} - set(fleet.connected()))
        return (not missing, f"not connected: {', '.join(missing)}" if missing else "all facilities connected")

    bms = serve_bms(BmsField(models[:bms_count]), settings.host, settings.bms_port)
    if settings.simulator_backfill_days:
        threading.Thread(target=backfill_when_started, args=(settings, fleet_models), name="backfill",
                         daemon=True).start()
    server = endpoints.serve(settings.host, settings.simulator_port, health)
    fleet.connect()
    log.info(
        "simulating",
        extra={
            "fields": {
                "facilities": len(fleet.devices),
                "meters": settings.simulator_meters,
                "interval_s": settings.simulator_interval_s,
                "bms_facilities": bms_count,
                "bms_port": settings.bms_port,
            }
        },
    )
    next_round = time.monotonic()
    try:
        while not stop.wait(max(0.0, next_round - time.monotonic())):
            fleet.publish_round()
            next_round += settings.simulator_interval_s
            # After a long stall (suspended machine) skip missed rounds instead of bursting them.
            next_round = max(next_round, time.monotonic())
    finally:
        fleet.close(timeout_s=settings.mqtt_timeout_s)
        server.close()
        bms.close()
        log.info("stopped")


def main() -> None:
    settings = get_settings()
    logs.configure("simulator", settings.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run(settings, stop)


if __name__ == "__main__":
    main()
