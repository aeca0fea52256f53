"""`python -m streaming.bridge`: run the MQTT -> Kafka bridge until SIGTERM, then flush and disconnect."""

from __future__ import annotations

import logging
import signal
import threading

from sems import endpoints, logs
from sems.settings import get_settings
from sems.stores.kafka import producer
from streaming.bridge import paho_speedups
from streaming.bridge.service import Bridge


def main() -> None:
    settings = get_settings()
    logs.configure("bridge", settings.log_level)
    paho_speedups.apply()
    # kafka-python logs every connection at INFO; the health probe alone would flood the log.
    logging.getLogger("kafka").setLevel(logging.WARNING)
    # ...and every reconnect attempt while Kafka is down at ERROR; the breaker logs the outage once.
    logs.throttle("kafka")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Records carry one or more readings already; a short linger lets the client batch records per partition.
    # Sends must not block longer than a publish cycle may take: past that, the records go to the spool.
    block_ms = int(settings.bridge_publish_timeout_s * 1000)
    bridge = Bridge(
        settings,
        lambda: producer(settings, linger_ms=2, max_block_ms=block_ms),
    )
    server = endpoints.serve(settings.host, settings.bridge_port, bridge.health, ready=bridge.ready)
    try:
        bridge.run(stop)
    finally:
        server.close()
    logging.getLogger("streaming.bridge").info("stopped")


if __name__ == "__main__":
    main()
