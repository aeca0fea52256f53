"""QuestDB disk watchdog (C3): above `questdb_disk_alert_ratio` used, shorten raw retention and alert.

Each check measures the filesystem holding QuestDB's data and compares it with the alert
ratio. Above it the `readings` TTL (and its `reading_lineage`) is halved (never below `questdb_readings_min_ttl_days`,
which stays longer than the daily archive needs, so only archived days go) and the alert
gauge rises; once usage falls below `questdb_disk_clear_ratio` the configured TTL comes back.
The state lives in QuestDB itself (the table's current TTL), so a restarted job carries on.
Rollups are never shortened: they are small and they are what analysts and forecasts read.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Gauge

from sems.settings import Settings
from sems.stack.service import data_dir
from sems.stores import questdb

log = logging.getLogger(__name__)

DISK_USED = Gauge("sems_questdb_disk_used_ratio", "Used share of the filesystem holding QuestDB's data")
DISK_ALERT = Gauge("sems_questdb_disk_alert", "1 while QuestDB's disk is above the alert ratio (raw TTL shortened)")
READINGS_TTL = Gauge("sems_questdb_readings_ttl_days", "Current TTL of the raw readings table, in days")
RAW_TABLE = "readings"
LINEAGE_TABLE = "reading_lineage"  # one row per message of the raw readings: kept as long as they are


def used_ratio_of(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return usage.used / usage.total


def ttl_days(settings: Settings, table: str = RAW_TABLE) -> int:
    """`table`'s TTL in days as QuestDB has it (0 = none)."""
    rows = questdb.query(settings, f"SELECT ttlValue, ttlUnit FROM tables() WHERE table_name = '{table}'")
    if not rows:
        raise questdb.QuestDBError(f"QuestDB has no table {table}")
    value, unit = int(rows[0]["ttlValue"]), str(rows[0]["ttlUnit"]).upper()
    per_day = {"HOUR": 1 / 24, "DAY": 1, "WEEK": 7, "MONTH": 30, "YEAR": 365}
    return round(value * per_day.get(unit.rstrip("S"), 1))


def set_ttl(settings: Settings, days: int, table: str = RAW_TABLE) -> None:
    questdb.query(settings, f"ALTER TABLE {table} SET TTL {days} DAYS")


class DiskWatchdog:
    """One `check()` per tick; `used_ratio` and `table` are injectable: the reaction is tested on a real QuestDB."""

    def __init__(
        self, settings: Settings, used_ratio: Callable[[], float] | None = None, table: str = RAW_TABLE
    ) -> None:
        self.settings, self.table = settings, table
        path = settings.questdb_data_dir or data_dir(settings, "questdb")
        self.used_ratio = used_ratio or (lambda: used_ratio_of(path))

    def check(self) -> int:
        """Measure, react, and return the raw TTL (days) now in force."""
        s = self.settings
        ratio = self.used_ratio()
        DISK_USED.set(ratio)
        ttl = ttl_days(s, self.table)
        if ratio >= s.questdb_disk_alert_ratio:
            DISK_ALERT.set(1)
            shorter = max(s.questdb_readings_min_ttl_days, ttl // 2)
            if shorter < ttl:
                self._set(shorter)
                fields = {"used_ratio": round(ratio, 3), "ttl_days_before": ttl, "ttl_days": shorter}
                log.error("QuestDB disk above the alert ratio: raw retention shortened", extra={"fields": fields})
                return shorter
            log.error("QuestDB disk above the alert ratio at the shortest raw retention",
                      extra={"fields": {"used_ratio": round(ratio, 3), "ttl_days": ttl}})
        elif ratio < s.questdb_disk_clear_ratio:
            DISK_ALERT.set(0)
            if ttl != s.questdb_readings_ttl_days:
                self._set(s.questdb_readings_ttl_days)
                log.warning("QuestDB disk below the clear ratio: raw retention restored",
                            extra={"fields": {"used_ratio": round(ratio, 3), "ttl_days": s.questdb_readings_ttl_days}})
                return s.questdb_readings_ttl_days
        READINGS_TTL.set(ttl)
        return ttl

    def _set(self, days: int) -> None:
        set_ttl(self.settings, days, self.table)
        if self.table == RAW_TABLE:
            set_ttl(self.settings, days, LINEAGE_TABLE)
        READINGS_TTL.set(days)

    def run(self, stop: threading.Event) -> None:
        """Check every `questdb_disk_check_s` until `stop`; a failed check (QuestDB away) waits for the next."""
        while not stop.is_set():
            try:
                self.check()
            except (OSError, questdb.QuestDBError) as exc:
                log.warning("disk watchdog check failed", extra={"fields": {"error": repr(exc)[:300]}})
            stop.wait(self.settings.questdb_disk_check_s)
