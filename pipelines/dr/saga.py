"""The DR saga (C2): received -> planned -> dispatching -> active -> releasing -> completed, or failed / compensated.

State lives in PostgreSQL; each step reads it, does its work and commits the next state
with its audit row, so a rerun after a crash continues where the last one stopped.
Dispatch and release of one event hold an advisory lock, so they never interleave. A
facility that cannot be commanded is compensated (its changed devices restored) and its
manager notified; the event is `active` if any facility is, else `compensated`/`failed`.
A newer revision of an active event (update) re-plans the facilities still active: each device
is commanded again only where the new plan differs, under keys tagged with the revision, and
facilities the update no longer names are restored; a cancellation releases (`release`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from pipelines.dr import store
from pipelines.dr.commands import FacilityCommander
from pipelines.dr.notify import ManagerNotifier
from pipelines.dr.plan import FacilityPlan, plan_facilities
from sems.bms.gateway import BmsGateway
from sems.settings import Settings

log = logging.getLogger(__name__)


class Saga:
    def __init__(self, settings: Settings, engine: Engine, gateway: BmsGateway, notifier: ManagerNotifier) -> None:
        self.settings, self.engine, self.gateway, self.notifier = settings, engine, gateway, notifier

    def dispatch(self, event_id: str, trace_id: str = "-") -> str:
        """Plan and command the event's facilities (resuming any earlier attempt); the resulting status."""
        with self._locked(event_id):
            event = self._event(event_id)
            if event["status"] == "received" and event["ends_at"] <= datetime.now(UTC):
                with self.engine.begin() as conn:
                    store.move_event(conn, event_id, "failed", ("received",), "saga", reason="ended before dispatch")
                return "failed"
            if event["status"] == "received":
                self._plan(event)
            elif event["status"] == "active" and event["planned_revision"] is not None \
                    and event["revision"] > event["planned_revision"]:
                self._replan(event)
            with self.engine.begin() as conn:
                store.move_event(conn, event_id, "dispatching", ("planned",), "saga")
            if self._event(event_id)["status"] == "dispatching":
                self._command_all(event_id, trace_id)
            return str(self._event(event_id)["status"])

    def release(self, event_id: str, reason: str, trace_id: str = "-") -> str:
        """Restore every device the event changed (event end or cancellation); the resulting status."""
        with self._locked(event_id):
            with self.engine.begin() as conn:
                if store.move_event(conn, event_id, "cancelled", ("received", "planned"), "saga", reason=reason):
                    return "cancelled"
                store.move_event(conn, event_id, "releasing", ("dispatching", "active", "failed", "compensated"),
                                 "saga", reason=reason)
            if self._event(event_id)["status"] != "releasing":
                return str(self._event(event_id)["status"])
            commander = FacilityCommander(self.engine, self.gateway, event_id, trace_id)
            with self.engine.begin() as conn:
                facilities = list(store.facility_states(conn, event_id))
            results = self.gateway.for_each_facility(facilities, commander.restore)
            for facility_id, outcome in results.items():
                self._settle(event_id, facility_id, outcome, ok_state="completed", what="restore")
            failed = [f for f, outcome in results.items() if isinstance(outcome, Exception)]
            with self.engine.begin() as conn:
                store.move_event(conn, event_id, "failed" if failed else "completed", ("releasing",), "saga",
                                 reason=reason, not_restored=failed)
            return str(self._event(event_id)["status"])

    def _plan(self, event: dict[str, Any]) -> None:
        event_id = str(event["event_id"])
        request = dict(event["request"])
        with self.engine.begin() as conn:
            forecasts = store.forecasts(conn, sorted(store.facility_states(conn, event_id)), event["starts_at"],
                                        event["ends_at"], self.settings.dr_forecast_stale_after_s)
            plans = plan_facilities(request, forecasts, self.settings.dr_conservative_factor)
            for plan in plans:
                store.write_plan(conn, event_id, plan, "planned")
            degraded = {p.facility_id: p.quality for p in plans if p.quality != "model"}
            conn.execute(text("UPDATE dr_events SET planned_revision = revision WHERE event_id = :eid"),
                         {"eid": event_id})
            store.move_event(conn, event_id, "planned", ("received",), "saga",
                             planned_kw=round(sum(p.target_kw for p in plans), 3), conservative=degraded)

    def _replan(self, event: dict[str, Any]) -> None:
        """A newer revision of an active event: new plans for the facilities still active (or newly added), and
        the facilities it no longer names are released; all in one transaction with the event -> dispatching."""
        event_id, revision, request = str(event["event_id"]), int(event["revision"]), dict(event["request"])
        targeted = set(request["facility_ids"])
        with self.engine.begin() as conn:
            states = store.facility_states(conn, event_id)
            live = sorted(f for f, row in states.items() if row["state"] in ("active", "received") and f in targeted)
            dropped = sorted(f for f, row in states.items() if row["state"] == "active" and f not in targeted)
            forecasts = store.forecasts(conn, live, event["starts_at"], event["ends_at"],
                                        self.settings.dr_forecast_stale_after_s)
            plans = plan_facilities(request, forecasts, self.settings.dr_conservative_factor)
            for plan in plans:
                store.write_plan(conn, event_id, plan, "dispatching", revision)
            conn.execute(text("UPDATE dr_event_facilities SET state = 'releasing', updated_at = now()"
                              " WHERE event_id = :eid AND facility_id = ANY(:ids)"), {"eid": event_id, "ids": dropped})
            conn.execute(text("UPDATE dr_events SET planned_revision = :rev WHERE event_id = :eid"),
                         {"rev": revision, "eid": event_id})
            store.move_event(conn, event_id, "dispatching", ("active",), "saga", replanned_revision=revision,
                             planned_kw=round(sum(p.target_kw for p in plans), 3), released=dropped)

    def _command_all(self, event_id: str, trace_id: str) -> None:
        commander = FacilityCommander(self.engine, self.gateway, event_id, trace_id)
        with self.engine.begin() as conn:
            rows = store.facility_states(conn, event_id)
        pending = {fid: row for fid, row in rows.items() if row["state"] in ("planned", "dispatching")}
        leaving = [fid for fid, row in rows.items() if row["state"] == "releasing"]

        def command(facility_id: str) -> None:
            row = pending[facility_id]
            tag = "" if row["plan_revision"] is None else f"@r{row['plan_revision']}"
            try:
                commander.apply(facility_id, self._devices(event_id, facility_id, FacilityPlan(**row["plan"]), tag),
                                tag)
            except Exception as exc:
                self._compensate(commander, event_id, facility_id, exc)
                raise
            # Settled as soon as it is confirmed: a hung neighbour does not hold back its state.
            self._settle(event_id, facility_id, None, ok_state="active", what="dispatch")

        self.gateway.for_each_facility(sorted(pending), command)
        for facility_id, outcome in self.gateway.for_each_facility(leaving, commander.restore).items():
            self._settle(event_id, facility_id, outcome, ok_state="completed", what="restore")
        with self.engine.begin() as conn:
            states = {r["state"] for r in store.facility_states(conn, event_id).values()}
            final = "active" if "active" in states else "compensated" if states == {"compensated"} else "failed"
            store.move_event(conn, event_id, final, ("dispatching",), "saga", facility_states=sorted(states))

    def _devices(self, event_id: str, facility_id: str, plan: FacilityPlan, tag: str) -> list[tuple[str, float]]:
        """The plan's device values; for a re-plan (`tag`), only those that differ from what earlier commands
        set, and every device the new plan leaves alone goes back to its value before the event."""
        if not tag:
            return plan.devices()
        with self.engine.begin() as conn:
            earlier = [r for r in store.commands_of(conn, event_id, facility_id, "apply")
                       if r["state"] == "confirmed" and not r["idempotency_key"].endswith(tag)]  # newest first
        current: dict[str, float] = {}
        original: dict[str, float] = {}
        for row in earlier:
            current.setdefault(row["point"], row["target_value"])
            original[row["point"]] = row["prior_value"]
        wanted = dict(plan.devices())
        for point, prior in original.items():
            wanted.setdefault(point, prior)
        return [(point, value) for point, value in wanted.items() if current.get(point) != value]

    def _compensate(self, commander: FacilityCommander, event_id: str, facility_id: str, cause: Exception) -> None:
        try:
            commander.restore(facility_id)
        except Exception as exc:  # noqa: BLE001 - recorded on the facility and sent to its manager
            self._settle(event_id, facility_id, exc, ok_state="compensated", what="compensation", cause=cause)
            return
        self._settle(event_id, facility_id, None, ok_state="compensated", what="dispatch", cause=cause)

    def _settle(self, event_id: str, facility_id: str, outcome: object, *, ok_state: str, what: str,
                cause: Exception | None = None) -> None:
        error = outcome if isinstance(outcome, Exception) else cause
        with self.engine.begin() as conn:
            store.move_facility(conn, event_id, facility_id, "failed" if isinstance(outcome, Exception) else ok_state,
                                "saga", error=None if error is None else f"{type(error).__name__}: {error}")
        if error is not None:
            self.notifier.notify(event_id, facility_id, f"{what} failed",
                                 f"SEMS could not complete the {what} of DR event {event_id}: {error}.\n"
                                 "Every device change is recorded in the event's command log.")

    def _event(self, event_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            event = store.load_event(conn, event_id)
        if event is None:
            raise LookupError(f"no DR event {event_id}")
        return event

    @contextmanager
    def _locked(self, event_id: str) -> Iterator[None]:
        with self.engine.connect() as conn:
            # A release may wait out a whole dispatch (minutes with a hung BMS): no statement timeout for the wait.
            conn.execute(text("SET statement_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": store.event_lock_key(event_id)})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": store.event_lock_key(event_id)})
                conn.execute(text("RESET statement_timeout"))
                conn.commit()
