"""QuestDB stopped (C3): the Beam job stops pulling and commits nothing until QuestDB is back; nothing lost."""

from __future__ import annotations

from sems.settings import Settings
from sems.stack import controller
from tests.streaming.faults.conftest import Device, metric
from tests.support import wait_until


def test_questdb_outage_holds_the_job_and_loses_nothing(
    settings: Settings, device: Device, restore_stack: None
) -> None:
    failures_before = metric(settings, settings.beam_job_port, "sems_beam_batch_failures_total")
    device.start()
    wait_until(lambda: len(device.acknowledged) >= 30, what="readings flowing before the outage")

    controller.down(settings, ["questdb"], report=lambda _: None)
    wait_until(
        lambda: metric(settings, settings.beam_job_port, "sems_beam_batch_failures_total") > failures_before,
        timeout_s=90,
        what="a failed (uncommitted) run while QuestDB is down",
    )
    wait_until(
        lambda: metric(settings, settings.beam_job_port, "sems_beam_consumer_lag_records") > 0,
        what="readings waiting in Kafka, not dead-lettered",
    )
    controller.up(settings, ["questdb"], report=lambda _: None)
    device.stop()
    device.assert_exactly_once()
    assert metric(settings, settings.beam_job_port, "sems_beam_questdb_down") == 0
