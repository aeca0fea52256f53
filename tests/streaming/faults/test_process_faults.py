"""Bridge and Beam job killed with SIGKILL, Mosquitto restarted: the broker and Kafka redeliver, nothing is lost."""

from __future__ import annotations

import pytest

from sems.settings import Settings
from sems.stack import controller
from tests.streaming.faults.conftest import Device
from tests.support import wait_until


@pytest.mark.parametrize("service", ["bridge", "beam-job"])
def test_sigkill_during_ingestion_loses_nothing(
    settings: Settings, device: Device, restore_stack: None, service: str
) -> None:
    device.start()
    wait_until(lambda: len(device.acknowledged) >= 30, what="readings flowing before the kill")
    assert controller.kill(settings, service)
    count = len(device.acknowledged)
    wait_until(lambda: len(device.acknowledged) >= count + 30, what="readings published while it is dead")
    controller.up(settings, [service], report=lambda _: None)
    wait_until(lambda: len(device.acknowledged) >= count + 60, what="readings after the restart")
    device.stop()
    device.assert_exactly_once()


def test_mosquitto_restart_loses_nothing(settings: Settings, device: Device, restore_stack: None) -> None:
    device.start()
    wait_until(lambda: len(device.acknowledged) >= 30, what="readings flowing before the restart")
    device.stop()
    controller.down(settings, ["mosquitto"], report=lambda _: None)
    controller.up(settings, ["mosquitto"], report=lambda _: None)
    device.start()  # a new connection (devices reconnect after a broker restart)
    count = len(device.acknowledged)
    wait_until(lambda: len(device.acknowledged) >= count + 30, what="readings after the restart")
    device.stop()
    device.assert_exactly_once()
