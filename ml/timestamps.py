"""Timestamps of a user's file to UTC instants: ISO 8601 with offsets, or naive local wall-clock time.

A naive timestamp is local time in `timezone`. Around a DST change local time is not
an instant: in spring an hour does not exist (such rows are rejected and counted), in
autumn an hour happens twice. A logger writing local time repeats that hour, so the file
order decides: ambiguous rows up to the first step back in time are the first (summer)
pass, the rows after it the second (winter) pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

UTC_US = pl.Datetime("us", "UTC")


class SeriesError(ValueError):
    """A file that cannot be used; the message is one line an operator can act on."""


@dataclass
class ParsedTimes:
    """UTC instants per input row (null = rejected) and what parsing had to decide."""

    ts: pl.Series
    unparseable: int
    nonexistent_local: int
    ambiguous_local: int
    kind: str  # "tz-aware", "naive local <zone>" or "mixed"


def zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a SeriesError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SeriesError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None


def _iso(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None


def _localised(naive: pl.Series, timezone: str) -> tuple[pl.Series, int, int]:
    """Naive wall-clock times -> UTC (file order resolves the repeated autumn hour)."""
    frame = naive.to_frame("local").with_columns(
        early=pl.col("local").dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null"),
        late=pl.col("local").dt.replace_time_zone(timezone, ambiguous="latest", non_existent="null"),
    ).with_columns(ambiguous=pl.col("early") != pl.col("late"), day=pl.col("local").dt.date())
    backward = (pl.col("local") < pl.col("local").shift(1)).fill_null(False)
    passes = frame.with_row_index("row").filter(pl.col("ambiguous")).with_columns(
        second=backward.cast(pl.Int32).cum_sum().over("day") > 0).select("row", "second")
    frame = frame.with_row_index("row").join(passes, on="row", how="left").sort("row")
    utc = frame.select(pl.when(pl.col("second").fill_null(False)).then(pl.col("late")).otherwise(pl.col("early"))
                       .dt.convert_time_zone("UTC"))
    nonexistent = int((frame["early"].is_null() & frame["local"].is_not_null()).sum())
    return utc.to_series().cast(UTC_US), nonexistent, int(frame["ambiguous"].fill_null(False).sum())


def parse(raw: pl.Series, timezone: str) -> ParsedTimes:
    """Parse ISO 8601 strings (or datetimes from Parquet) to UTC; naive ones are local time in `timezone`."""
    zone(timezone)
    if raw.dtype == pl.Datetime:
        tz = getattr(raw.dtype, "time_zone", None)
        if tz:
            return ParsedTimes(raw.dt.convert_time_zone("UTC").cast(UTC_US), 0, 0, 0, "tz-aware")
        utc, nonexistent, ambiguous = _localised(raw.cast(pl.Datetime("us")), timezone)
        return ParsedTimes(utc, 0, nonexistent, ambiguous, f"naive local {timezone}")
    values = [_iso(v) for v in raw.cast(pl.String).to_list()]
    unparseable = sum(1 for v, s in zip(values, raw.to_list(), strict=True) if v is None and s not in (None, ""))
    aware = [v.astimezone(UTC).replace(tzinfo=None) if v is not None and v.tzinfo is not None else None
             for v in values]
    naive = [v if v is not None and v.tzinfo is None else None for v in values]
    n_aware, n_naive = sum(v is not None for v in aware), sum(v is not None for v in naive)
    utc_aware = pl.Series(aware, dtype=pl.Datetime("us")).dt.replace_time_zone("UTC")
    utc_naive, nonexistent, ambiguous = _localised(pl.Series(naive, dtype=pl.Datetime("us")), timezone)
    kind = "mixed" if n_aware and n_naive else ("tz-aware" if n_aware else f"naive local {timezone}")
    both = pl.DataFrame({"aware": utc_aware, "naive": utc_naive}).select(pl.coalesce("aware", "naive").alias("ts"))
    return ParsedTimes(both.to_series(), unparseable, nonexistent, ambiguous, kind)


def offsets_changes(raw: pl.Series) -> int:
    """How often the UTC offset written in the file changes between consecutive parsed rows."""
    offsets = [v.utcoffset() for v in (_iso(s) for s in raw.cast(pl.String).to_list()) if v and v.tzinfo]
    return sum(1 for a, b in zip(offsets, offsets[1:], strict=False) if a != b)


def transitions(start: datetime, end: datetime, timezone: str) -> int:
    """DST transitions of `timezone` between two UTC instants."""
    hours = pl.datetime_range(start, end, "1h", time_zone="UTC", eager=True).dt.convert_time_zone(timezone)
    offsets = hours.dt.dst_offset()
    return int((offsets != offsets.shift(1)).fill_null(False).sum())
