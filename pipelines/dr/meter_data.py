"""What verification reads: metered load from QuestDB's rollups, and facts about the facilities from PostgreSQL.

- history (baselines): `facility_load_15m` over the lookback, one row per facility and quarter hour;
- the event itself: `facility_load_1m` (the freshest rollup, and what late data rewrites first),
  averaged per quarter hour with the number of minutes that reported;
- the forecast P50 per quarter hour, each facility's time zone, holidays and earlier event days
  (days of another event on which a command to the facility was confirmed).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
import polars as pl
from sqlalchemy import Connection, text

from pipelines.dr.baselines import LOOKBACK_DAYS, SLOT
from sems.settings import Settings
from sems.stores import questdb


@dataclass(frozen=True)
class FacilityFacts:
    timezone: str
    holidays: set[date]
    event_days: set[date]  # local days of the facility's other DR events on which SEMS changed a device


def _ts(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.000000Z"


def _in_list(facility_ids: list[str]) -> str:
    # Facility ids are validated slugs at intake; anything else is left out rather than quoted into SQL.
    return ", ".join(f"'{f}'" for f in facility_ids if f.replace("-", "").replace("_", "").isalnum())


def _frame(rows: list[dict[str, object]], schema: dict[str, type[pl.DataType]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={k: (pl.Utf8 if k == "ts" else v) for k, v in schema.items()}, orient="row")
    return frame.with_columns(pl.col("ts").str.to_datetime(time_zone="UTC"))


def history(settings: Settings, facility_ids: list[str], starts_at: datetime) -> dict[str, pl.DataFrame]:
    """Per facility, `ts`/`kw` of every quarter hour from the lookback up to the event's start."""
    since = starts_at - timedelta(days=LOOKBACK_DAYS + 1)
    rows = questdb.query(settings, f"SELECT ts, facility_id, kw_avg AS kw FROM facility_load_15m WHERE facility_id IN"
                                   f" ({_in_list(facility_ids)}) AND ts >= '{_ts(since)}' AND ts < '{_ts(starts_at)}'")
    frame = _frame(rows, {"ts": pl.Utf8, "facility_id": pl.Utf8, "kw": pl.Float64})
    return {fid: frame.filter(pl.col("facility_id") == fid).select("ts", "kw") for fid in facility_ids}


def metered(settings: Settings, facility_ids: list[str], starts_at: datetime,
            ends_at: datetime) -> dict[str, dict[datetime, tuple[float, int]]]:
    """Per facility and quarter hour (UTC start): (mean kW, minutes reported) inside the window so far."""
    end = min(ends_at, datetime.now(UTC))
    rows = questdb.query(settings, f"SELECT ts, facility_id, kw_avg AS kw FROM facility_load_1m WHERE facility_id"
                                   f" IN ({_in_list(facility_ids)}) AND ts >= '{_ts(starts_at)}' AND ts < '{_ts(end)}'")
    frame = _frame(rows, {"ts": pl.Utf8, "facility_id": pl.Utf8, "kw": pl.Float64})
    slots = (frame.with_columns(pl.col("ts").dt.truncate(f"{int(SLOT.total_seconds() // 60)}m").alias("slot"))
             .group_by("facility_id", "slot").agg(pl.col("kw").mean(), pl.len().alias("minutes")))
    result: dict[str, dict[datetime, tuple[float, int]]] = defaultdict(dict)
    for row in slots.iter_rows(named=True):
        result[row["facility_id"]][row["slot"]] = (float(row["kw"]), int(row["minutes"]))
    return result


def forecast_p50(conn: Connection, facility_ids: list[str], starts_at: datetime,
                 ends_at: datetime) -> dict[str, dict[datetime, float]]:
    """Per facility and quarter hour: the P50 of the latest forecast issued before the event started."""
    rows = conn.execute(text(
        "WITH issued AS (SELECT facility_id, max(generated_at) AS generated_at FROM load_forecasts"
        " WHERE facility_id = ANY(:ids) AND generated_at <= :start GROUP BY facility_id)"
        " SELECT f.facility_id, f.ts, f.p50 FROM load_forecasts f JOIN issued USING (facility_id, generated_at)"
        " WHERE f.ts > :start - interval '15 minutes' AND f.ts < :end"),
        {"ids": facility_ids, "start": starts_at, "end": ends_at})
    result: dict[str, dict[datetime, float]] = defaultdict(dict)
    for row in rows:
        result[row.facility_id][row.ts.astimezone(UTC)] = float(row.p50)
    return result


def facts(conn: Connection, event_id: str, facility_ids: list[str], starts_at: datetime) -> dict[str, FacilityFacts]:
    """Time zone, public holidays (of the facility's country) and earlier event days per facility."""
    places = {r.facility_id: (r.timezone, r.country) for r in conn.execute(text(
        "SELECT facility_id, timezone, country FROM facilities WHERE facility_id = ANY(:ids)"), {"ids": facility_ids})}
    events = conn.execute(text(
        "SELECT f.facility_id, e.starts_at, e.ends_at FROM dr_event_facilities f JOIN dr_events e USING (event_id)"
        " WHERE f.facility_id = ANY(:ids) AND e.event_id <> :eid AND e.ends_at > :since AND e.starts_at < :start"
        " AND EXISTS (SELECT 1 FROM dr_bms_commands c WHERE c.event_id = e.event_id AND c.facility_id = f.facility_id"
        " AND c.action = 'apply' AND c.state = 'confirmed')"),
        {"ids": facility_ids, "eid": event_id, "start": starts_at,
         "since": starts_at - timedelta(days=LOOKBACK_DAYS + 1)}).all()
    years = {starts_at.year - 1, starts_at.year}
    result = {}
    for fid in facility_ids:
        tz, country = places[fid]
        zone = ZoneInfo(tz)
        days: set[date] = set()
        for row in (e for e in events if e.facility_id == fid):
            day = row.starts_at.astimezone(zone).date()
            while day <= row.ends_at.astimezone(zone).date():
                days.add(day)
                day += timedelta(days=1)
        result[fid] = FacilityFacts(tz, set(holiday_calendars.country_holidays(country, years=years)), days)
    return result
