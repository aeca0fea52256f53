"""The QuestDB tables of SEMS: raw readings and load rollups, all WAL, partitioned by day, deduplicated.

Every table carries `DEDUP UPSERT KEYS` on its identity (designated timestamp plus the
facility/meter it describes), so a replay from Kafka rewrites rows instead of doubling
them, and a late window update replaces the earlier partial aggregate. Raw readings
expire after `questdb_readings_ttl_days`; rollups are kept longer.

Columns are listed once here; `sems.stores.questdb.ensure_schema` creates missing tables
and adds missing columns (expand-only), and `write_frame` sends the string columns
declared SYMBOL here as ILP symbols.
"""

from __future__ import annotations

from dataclasses import dataclass

from sems.settings import Settings

FACILITY = ("facility_id", "SYMBOL CAPACITY 4096 CACHE")
METER = ("meter_id", "SYMBOL CAPACITY 65536 CACHE")

# Window aggregates, meaning of each column (filled by the streaming job):
#   kw_avg   mean demand over the window (facility tables: sum of its meters' means)
#   kw_min / kw_max   lowest / highest reading in the window (facility tables: sums of meter extremes)
#   kwh      energy consumed in the window
#   readings number of raw readings aggregated; meters: distinct meters that reported
#   updated_at when this version of the window was written (late data rewrites a window)
_FACILITY_ROLLUP = (
    FACILITY,
    ("kw_avg", "DOUBLE"), ("kw_min", "DOUBLE"), ("kw_max", "DOUBLE"), ("kwh", "DOUBLE"),
    ("readings", "LONG"), ("meters", "INT"), ("updated_at", "TIMESTAMP"),
)


@dataclass(frozen=True)
class TimeSeriesTable:
    """A WAL table with designated timestamp `ts`, daily partitions, a TTL and dedup keys."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type) besides `ts`
    keys: tuple[str, ...]  # dedup keys besides `ts`
    ttl_days: int

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(name for name, kind in self.columns if kind.startswith("SYMBOL"))

    def create_sql(self) -> str:
        cols = ",\n  ".join(["ts TIMESTAMP", *(f"{name} {kind}" for name, kind in self.columns)])
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols}\n) TIMESTAMP(ts) PARTITION BY DAY "
            f"TTL {self.ttl_days} DAYS WAL DEDUP UPSERT KEYS(ts, {', '.join(self.keys)})"
        )

    def add_column_sql(self, column: str) -> str:
        kind = dict(self.columns)[column]
        return f"ALTER TABLE {self.name} ADD COLUMN IF NOT EXISTS {column} {kind}"


def tables(settings: Settings) -> dict[str, TimeSeriesTable]:
    """Every SEMS table by name: `readings`, `reading_lineage`, `meter_load_1m` and the facility rollups."""
    raw_ttl, rollup_ttl = settings.questdb_readings_ttl_days, settings.questdb_rollups_ttl_days
    defined = [
        TimeSeriesTable(
            "readings",
            # Lineage (trace id, when written) is one row per MQTT message in `reading_lineage`, not
            # per reading: at 100,000 readings/s the two per-row columns cost ~20 % of the ingest rate.
            (FACILITY, METER, ("kw", "DOUBLE"), ("kwh", "DOUBLE"), ("seq", "LONG")),
            # Meter ids are addressed within a facility (MQTT topic .../{facility_id}/{meter_id}).
            ("facility_id", "meter_id"),
            raw_ttl,
        ),
        TimeSeriesTable(
            # One row per Kafka record whose readings the job wrote: ts / last_ts = its oldest / newest
            # reading, trace_id = its first MQTT message's, trace_ids / trace_readings = when it merged
            # several messages, each one's trace id / readings count (comma-separated, reading order),
            # meter_id = the meter of its first reading, ingested_at = when QuestDB had acknowledged all
            # of them. trace ids are unique per message: VARCHAR, since a SYMBOL would grow without bound.
            "reading_lineage",
            (FACILITY, ("trace_id", "VARCHAR"), ("trace_ids", "VARCHAR"), ("trace_readings", "VARCHAR"), METER,
             ("last_ts", "TIMESTAMP"), ("readings", "LONG"), ("ingested_at", "TIMESTAMP")),
            ("facility_id", "trace_id"),
            raw_ttl,
        ),
        TimeSeriesTable(
            # kw_sum (exact, not kw_avg x readings) and last_ts (the newest reading counted) let the job
            # add a run's new readings to a meter's minute instead of re-reading the minute from `readings`.
            "meter_load_1m",
            (FACILITY, METER, ("kw_avg", "DOUBLE"), ("kw_min", "DOUBLE"), ("kw_max", "DOUBLE"),
             ("kwh", "DOUBLE"), ("readings", "LONG"), ("updated_at", "TIMESTAMP"), ("kw_sum", "DOUBLE"),
             ("last_ts", "TIMESTAMP")),
            ("facility_id", "meter_id"),
            rollup_ttl,
        ),
        TimeSeriesTable("facility_load_1m", _FACILITY_ROLLUP, ("facility_id",), rollup_ttl),
        TimeSeriesTable("facility_load_15m", _FACILITY_ROLLUP, ("facility_id",), rollup_ttl),
        TimeSeriesTable("facility_load_1h", _FACILITY_ROLLUP, ("facility_id",), rollup_ttl),
    ]
    return {table.name: table for table in defined}
