"""Commanding and restoring one facility's devices, crash-safe and at most once per device.

Apply: read the device's current value, record it with the command (state `sending`) in
PostgreSQL, send the command with a deterministic idempotency key, confirm it with
`GetCommandStatus`, mark it `confirmed`. A crash anywhere leaves a record from which a rerun
continues: a `sending` command is sent again with the same key (the BMS applies it once),
a `confirmed` one is skipped. Restore puts each device back to the prior value recorded by
the event's first command on it that took effect (a re-plan may have commanded it again); a
command the BMS never applied (status `unknown`) needs no restore and is marked `not_applied`.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Engine

from pipelines.dr import store
from sems.bms.client import BmsClient, BmsError, Point
from sems.bms.gateway import BmsGateway


class CommandNotConfirmed(BmsError):
    """The BMS accepted a command but its status call does not show it applied."""


class FacilityCommander:
    """Applies and restores the devices of facilities for one event."""

    def __init__(self, engine: Engine, gateway: BmsGateway, event_id: str, trace_id: str) -> None:
        self.engine, self.gateway, self.event_id, self.trace_id = engine, gateway, event_id, trace_id

    def key(self, facility_id: str, point: str, action: str, tag: str = "") -> str:
        """The idempotency key; `tag` (`@r<revision>`) tells a re-plan's commands from the first plan's."""
        return f"{self.event_id}/{facility_id}/{point}/{action}{tag}"

    def apply(self, facility_id: str, devices: list[tuple[str, float]], tag: str = "") -> None:
        """Set every planned device; raises on the first device that cannot be set and confirmed."""
        for point, value in devices:
            key = self.key(facility_id, point, "apply", tag)
            with self.engine.begin() as conn:
                row = store.command(conn, key)
            if row is not None and row.get("state") == "confirmed":
                continue
            if row is None:
                prior = self.gateway.call(facility_id, lambda c: c.point_values())[point]
                with self.engine.begin() as conn:
                    store.record_command(conn, self.event_id, facility_id, key, point, "apply", prior, value)
            self._send_and_confirm(facility_id, key, point, value)

    def restore(self, facility_id: str) -> None:
        """Put back, once per device, the value it had before this event's first command that took effect."""
        with self.engine.begin() as conn:
            applied = store.commands_of(conn, self.event_id, facility_id, "apply")  # newest first
        by_point: dict[str, list[dict[str, Any]]] = {}
        for row in applied:
            by_point.setdefault(row["point"], []).append(row)
        for point, rows in by_point.items():
            effective = [row for row in rows if self._took_effect(facility_id, row)]
            if not effective:
                continue
            key = self.key(facility_id, point, "restore")
            with self.engine.begin() as conn:
                done = store.command(conn, key)
                if done is None:
                    store.record_command(conn, self.event_id, facility_id, key, point, "restore",
                                         effective[0]["target_value"], effective[-1]["prior_value"])
            if done is None or done["state"] != "confirmed":
                self._send_and_confirm(facility_id, key, point, effective[-1]["prior_value"])

    def _took_effect(self, facility_id: str, row: dict[str, Any]) -> bool:
        """Whether an apply command changed the device; an unconfirmed one the BMS never applied is `not_applied`."""
        if row["state"] in ("confirmed", "not_applied"):
            return bool(row["state"] == "confirmed")
        if self._was_applied(facility_id, row["idempotency_key"]):
            return True
        with self.engine.begin() as conn:
            store.finish_command(conn, self.event_id, row["idempotency_key"], "not_applied")
        return False

    def _was_applied(self, facility_id: str, key: str) -> bool:
        receipt = self.gateway.call(facility_id, lambda c: c.command_status(key, trace_id=self.trace_id))
        return receipt.status == "applied"

    def _send_and_confirm(self, facility_id: str, key: str, point: str, value: float) -> None:
        def send(client: BmsClient) -> Any:
            return client.set_point(cast(Point, point), value, idempotency_key=key, trace_id=self.trace_id)

        try:
            self.gateway.call(facility_id, send)
            receipt = self.gateway.call(facility_id, lambda c: c.command_status(key, trace_id=self.trace_id))
            if receipt.status != "applied" or receipt.value is None or abs(receipt.value - value) > 1e-9:
                raise CommandNotConfirmed(f"{facility_id} {point}: status {receipt.status} value {receipt.value}")
        except Exception as exc:
            with self.engine.begin() as conn:
                store.finish_command(conn, self.event_id, key, "failed", error=str(exc))
            raise
        with self.engine.begin() as conn:
            store.finish_command(conn, self.event_id, key, "confirmed")
