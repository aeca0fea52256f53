"""A series a user brings (CSV or Parquet): read, reject junk, drop duplicates, resample, fill short gaps.

Everything the cleaning decided is counted in a `SeriesReport`, so the backtest's JSON says
what was done to the data: rows rejected (and why), duplicate instants dropped, DST
transitions in the span, the grid chosen, gap slots filled by linear interpolation and
gap slots left empty (those steps are neither trained on nor scored).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ml.timestamps import SeriesError, offsets_changes, parse, transitions

QUARTER, HOUR = timedelta(minutes=15), timedelta(hours=1)


@dataclass
class SeriesReport:
    """What cleaning did to one file."""

    file: str
    rows_read: int = 0
    rows_rejected: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: int = 0
    timestamps: str = ""
    dst_transitions: int = 0
    ambiguous_local_times: int = 0
    median_spacing_s: float = 0.0
    irregular_intervals: int = 0
    resolution: str = ""
    slots: int = 0
    gaps_filled: int = 0
    gaps_left: int = 0
    start: str = ""
    end: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_table(path: Path) -> pl.DataFrame:
    """Every column of a CSV as text (junk must not break parsing), or a Parquet file as stored."""
    if not path.is_file():
        raise SeriesError(f"{path}: no such file")
    try:
        with path.open("rb") as handle:
            if handle.read(4) == b"PAR1":
                return pl.read_parquet(path)
        return pl.read_csv(path, infer_schema=False, truncate_ragged_lines=True)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise SeriesError(f"{path}: not a readable CSV or Parquet file ({str(exc).splitlines()[0]})") from None


def _numbers(frame: pl.DataFrame, column: str) -> pl.Series:
    """The column as floats; text that is not a finite number becomes null."""
    values = frame[column]
    if values.dtype == pl.String:
        values = values.str.strip_chars().cast(pl.Float64, strict=False)
    values = values.cast(pl.Float64, strict=False)
    return values.set(values.is_infinite() | values.is_nan(), None)  # type: ignore[arg-type]


def _tally(report: SeriesReport, reason: str, count: int) -> None:
    if count:
        report.rows_rejected[reason] = report.rows_rejected.get(reason, 0) + count


def _valid_rows(frame: pl.DataFrame, required: str, optional: list[str], timezone: str,
                report: SeriesReport) -> pl.DataFrame:
    """ts (UTC) + numeric columns, junk rows removed and counted, duplicate instants dropped (last wins)."""
    times = parse(frame["ts"], timezone)
    report.timestamps = times.kind
    report.ambiguous_local_times = times.ambiguous_local
    _tally(report, "timestamp_missing", int(frame["ts"].cast(pl.String).fill_null("").str.strip_chars()
                                           .eq("").sum()))
    _tally(report, "timestamp_unparseable", times.unparseable)
    _tally(report, "timestamp_nonexistent_local", times.nonexistent_local)
    rows = pl.DataFrame({"ts": times.ts, **{c: _numbers(frame, c) for c in [required, *optional]}})
    timed = rows.filter(pl.col("ts").is_not_null())
    _tally(report, f"{required}_not_a_number", int(timed[required].is_null().sum()))
    valid = timed.filter(pl.col(required).is_not_null())
    if required == "kw":
        _tally(report, "kw_negative", int((valid["kw"] < 0).sum()))
        valid = valid.filter(pl.col("kw") >= 0)
    deduped = valid.with_row_index("order").sort("ts", "order").unique("ts", keep="last").sort("ts").drop("order")
    report.duplicates_dropped = valid.height - deduped.height
    if deduped.is_empty():
        raise SeriesError(f"{report.file}: no usable rows (rejected: {report.rows_rejected or 'none'})")
    return deduped


def _grid(rows: pl.DataFrame, finest: timedelta, coarsest: timedelta, report: SeriesReport) -> timedelta:
    """15 minutes for data at 15 minutes or finer, else hourly; coarser than `coarsest` is refused."""
    spacing = rows["ts"].diff().drop_nulls().dt.total_seconds()
    median = float(spacing.median() or 0.0) if spacing.len() else 0.0  # type: ignore[arg-type]
    report.median_spacing_s = median
    report.irregular_intervals = int(((spacing - median).abs() > 0.1 * median).sum()) if median else 0
    if median > coarsest.total_seconds():
        raise SeriesError(f"{report.file}: median spacing {median / 3600:.1f} h is coarser than "
                          f"{coarsest.total_seconds() / 3600:.0f} h")
    return finest if median <= finest.total_seconds() else HOUR


def _resampled(rows: pl.DataFrame, step: timedelta, max_gap: timedelta, columns: list[str],
               report: SeriesReport) -> pl.DataFrame:
    """Mean per step on a complete UTC grid; runs of missing steps up to `max_gap` interpolated."""
    binned = rows.group_by(pl.col("ts").dt.truncate(step)).agg(pl.col(columns).mean())
    first: datetime = binned["ts"].min()  # type: ignore[assignment]
    last: datetime = binned["ts"].max()  # type: ignore[assignment]
    grid = pl.datetime_range(first, last, step, time_zone="UTC", eager=True, time_unit="us").alias("ts")
    full = grid.to_frame().join(binned, on="ts", how="left").sort("ts")
    missing = full[columns[0]].is_null()
    run = (missing != missing.shift(1)).fill_null(True).cum_sum()
    length = pl.DataFrame({"run": run, "missing": missing}).with_columns(n=pl.len().over("run"))
    fillable = length["missing"] & (length["n"] <= int(max_gap / step))
    report.slots, report.gaps_filled = full.height, int(fillable.sum())
    report.gaps_left = int(missing.sum()) - report.gaps_filled
    report.resolution = f"{int(step.total_seconds() // 60)}min"
    report.start, report.end = str(full["ts"].min()), str(full["ts"].max())
    filled = full.with_columns(pl.col(columns).interpolate_by("ts"))
    return filled.with_columns(
        pl.when(pl.Series(fillable) | ~pl.Series(missing)).then(pl.col(c)).otherwise(None).alias(c) for c in columns)


def _dst(frame: pl.DataFrame, rows: pl.DataFrame, timezone: str, report: SeriesReport) -> None:
    if report.timestamps == "tz-aware" and frame["ts"].dtype == pl.String:
        report.dst_transitions = offsets_changes(frame["ts"])
    else:
        report.dst_transitions = transitions(rows["ts"].min(), rows["ts"].max(), timezone)  # type: ignore[arg-type]


def load_series(path: Path, timezone: str, *, max_gap: timedelta) -> tuple[pl.DataFrame, SeriesReport]:
    """ts (UTC), kw on a 15-minute (or hourly) grid, and the report."""
    frame, report = _checked(path, ["kw"])
    rows = _valid_rows(frame, "kw", [], timezone, report)
    step = _grid(rows, QUARTER, HOUR, report)
    _dst(frame, rows, timezone, report)
    return _resampled(rows, step, max_gap, ["kw"], report), report


HUMIDITY = ("humidity_pct", "humidity", "relative_humidity", "rh")


def weather_series(path: Path, timezone: str, *, max_gap: timedelta) -> tuple[pl.DataFrame, SeriesReport]:
    """ts (UTC), temp_c, humidity_pct (null if the file has none) on an hourly grid, and the report."""
    frame, report = _checked(path, ["temp_c"])
    humidity = next((c for c in HUMIDITY if c in frame.columns), None)
    rows = _valid_rows(frame, "temp_c", [humidity] if humidity else [], timezone, report)
    if humidity:
        rows = rows.rename({humidity: "humidity_pct"})
    else:
        rows = rows.with_columns(humidity_pct=pl.lit(None, pl.Float64))
    _grid(rows, HOUR, timedelta(hours=6), report)
    _dst(frame, rows, timezone, report)
    return _resampled(rows, HOUR, max_gap, ["temp_c", "humidity_pct"], report), report


def _checked(path: Path, needed: list[str]) -> tuple[pl.DataFrame, SeriesReport]:
    frame = read_table(path)
    frame = frame.rename({c: c.strip().lower() for c in frame.columns})
    absent = [c for c in ["ts", *needed] if c not in frame.columns]
    if absent:
        found = ", ".join(frame.columns) or "none"
        raise SeriesError(f"{path}: missing column(s) {', '.join(absent)} (found: {found})")
    if frame.is_empty():
        raise SeriesError(f"{path}: no rows")
    return frame, SeriesReport(file=str(path), rows_read=frame.height)
