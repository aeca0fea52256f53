"""Utility-style customer baselines (CBL): "10 of 10" and "high 5 of 10", with a day-of adjustment capped at +/-20 %.

Pure functions on polars frames of metered load (`ts` UTC slot start, `kw`), so the settlement
arithmetic can be checked by hand. Days and times of day are the facility's local ones:
- like days: the most recent 10 days before the event day of the same kind (a business day
  for a weekday event, a weekend day or holiday otherwise), not holidays/event days of the
  other kind, with metered data for every event slot, looked for at most 45 days back;
- "10 of 10": per slot, the mean over those 10 days;
- "high 5 of 10": per slot, the mean over the 5 of them with the highest load over the
  event window (DR events are called on high-load days; the lower 5 understate them);
- day-of adjustment: the event day's load over the 3 hours ending 1 hour before the start
  (the hour before is left out: pre-cooling or early curtailment would distort it) divided
  by the baseline's over the same slots, kept within [0.8, 1.2], multiplies every slot.
With fewer than 5 like days there is no CBL (None): the caller falls back to the forecast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

SLOT = timedelta(minutes=15)
LIKE_DAYS = 10
HIGH_DAYS = 5
LOOKBACK_DAYS = 45
ADJUSTMENT_CAP = 0.20
ADJUSTMENT_WINDOW = (timedelta(hours=4), timedelta(hours=1))  # from start - 4 h to start - 1 h
METHODS = ("ten_of_ten", "high_five_of_ten")


@dataclass(frozen=True)
class Baseline:
    """One CBL of one facility: the kW per event slot (UTC start), how it was made."""

    method: str
    days: list[date]
    adjustment: float  # the factor applied (after the cap)
    unadjusted_ratio: float | None  # the factor before the cap (None: no day-of data)
    kw: dict[datetime, float]


def event_slots(starts_at: datetime, ends_at: datetime) -> list[datetime]:
    """The 15-minute calendar slots (UTC starts) that overlap the window."""
    first = starts_at.replace(minute=starts_at.minute - starts_at.minute % 15, second=0, microsecond=0)
    slots, slot = [], first
    while slot < ends_at:
        slots.append(slot)
        slot += SLOT
    return slots


def localise(frame: pl.DataFrame, tz: str) -> pl.DataFrame:
    """`ts` (UTC), `kw` -> plus the facility's local `day` and `tod` (time of day)."""
    dtype = frame.schema["ts"]
    aware = isinstance(dtype, pl.Datetime) and dtype.time_zone
    utc = pl.col("ts") if aware else pl.col("ts").dt.replace_time_zone("UTC")
    local = utc.dt.convert_time_zone(tz)
    return frame.with_columns(local.dt.date().alias("day"), local.dt.time().alias("tod"))


def is_business_day(day: date, holidays: set[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def like_days(history: pl.DataFrame, event_day: date, tods: list[time], excluded: set[date],
              holidays: set[date], n: int = LIKE_DAYS, lookback_days: int = LOOKBACK_DAYS) -> list[date]:
    """The `n` most recent complete days of the event day's kind before it (newest first)."""
    business = is_business_day(event_day, holidays)
    complete = (history.filter(pl.col("tod").is_in(tods)).group_by("day").agg(pl.col("tod").n_unique().alias("n"))
                .filter(pl.col("n") == len(set(tods)))["day"].to_list())
    earliest = event_day - timedelta(days=lookback_days)
    candidates = [d for d in complete if earliest <= d < event_day and d not in excluded
                  and is_business_day(d, holidays) == business]
    return sorted(candidates, reverse=True)[:n]


def high_days(history: pl.DataFrame, days: list[date], tods: list[time], k: int = HIGH_DAYS) -> list[date]:
    """The `k` days with the highest mean load over the event's times of day (ties: the more recent)."""
    ranked = (history.filter(pl.col("day").is_in(days) & pl.col("tod").is_in(tods)).group_by("day")
              .agg(pl.col("kw").mean().alias("kw")).sort(["kw", "day"], descending=True))
    return ranked["day"].head(k).to_list()


def profile(history: pl.DataFrame, days: list[date], tods: list[time]) -> dict[time, float]:
    """Mean kW per time of day over `days`."""
    rows = (history.filter(pl.col("day").is_in(days) & pl.col("tod").is_in(tods)).group_by("tod")
            .agg(pl.col("kw").mean()))
    return dict(zip(rows["tod"].to_list(), rows["kw"].to_list(), strict=True))


def adjustment(history: pl.DataFrame, days: list[date], event_day: date, tods: list[time],
               cap: float = ADJUSTMENT_CAP) -> tuple[float, float | None]:
    """(capped factor, uncapped ratio): the event day's load over `tods` relative to the like days'."""
    if not tods:
        return 1.0, None
    baseline = history.filter(pl.col("day").is_in(days) & pl.col("tod").is_in(tods))["kw"].mean()
    actual_rows = history.filter((pl.col("day") == event_day) & pl.col("tod").is_in(tods))
    if actual_rows.height < len(set(tods)) or not baseline:  # incomplete day-of data: no adjustment
        return 1.0, None
    ratio = float(actual_rows["kw"].mean()) / float(baseline)  # type: ignore[arg-type]
    return min(1 + cap, max(1 - cap, ratio)), ratio


def customer_baselines(history: pl.DataFrame, tz: str, starts_at: datetime, ends_at: datetime,
                       excluded: set[date], holidays: set[date]) -> dict[str, Baseline] | None:
    """Both CBLs of one facility for the window, from its metered 15-minute history (None: too few like days)."""
    local, zone = localise(history, tz), ZoneInfo(tz)
    slots = event_slots(starts_at, ends_at)
    tod_of = {s: s.astimezone(zone).time() for s in slots}
    event_day = starts_at.astimezone(zone).date()
    tods = list(dict.fromkeys(tod_of.values()))
    adjust_from, adjust_to = starts_at - ADJUSTMENT_WINDOW[0], starts_at - ADJUSTMENT_WINDOW[1]
    adjust_tods = [s.astimezone(zone).time() for s in event_slots(adjust_from, adjust_to)
                   if s.astimezone(zone).date() == event_day]
    days = like_days(local, event_day, list({*tods, *adjust_tods}), excluded, holidays)
    if len(days) < HIGH_DAYS:
        return None
    result = {}
    for method, chosen in (("ten_of_ten", days), ("high_five_of_ten", high_days(local, days, tods))):
        factor, ratio = adjustment(local, chosen, event_day, adjust_tods)
        per_tod = profile(local, chosen, tods)
        result[method] = Baseline(method, sorted(chosen), round(factor, 4), None if ratio is None else round(ratio, 4),
                                  {s: round(per_tod[tod_of[s]] * factor, 3) for s in slots})
    return result
