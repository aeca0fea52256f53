"""Manual load profiles (`source='manual'`): an analyst's expected load overriding the forecast for a period.

A CSV has `ts` (ISO 8601; naive = UTC) and `kw`, optionally `p10` and `p90`; any resolution
is averaged onto the forecast step. Every problem is a `ManualForecastError` with a message
that fits on one line. The rows are written through `sems.forecast_buffer` (so a PostgreSQL
outage buffers them too); `load_forecast` keeps manual values for the steps they cover.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

MANUAL_QUALITY = 1.0  # an analyst's stated expectation is taken as given, not scored here


class ManualForecastError(ValueError):
    """A CSV that cannot be a load profile, or a facility that does not exist."""


def _read(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, try_parse_dates=False, infer_schema_length=0)  # all strings: we parse
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ManualForecastError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = {"ts", "kw"} - set(frame.columns)
    if missing:
        raise ManualForecastError(f"{path}: missing column(s) {', '.join(sorted(missing))} (need ts, kw)")
    if frame.is_empty():
        raise ManualForecastError(f"{path}: no rows")
    return frame


def _parse(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    try:
        ts = frame["ts"].str.to_datetime(time_unit="us", strict=True)
    except pl.exceptions.PolarsError:
        raise ManualForecastError(f"{path}: column ts has values that are not ISO 8601 timestamps") from None
    ts = ts.dt.replace_time_zone("UTC") if ts.dtype.time_zone is None else ts.dt.convert_time_zone("UTC")  # type: ignore[attr-defined]
    columns = {"ts": ts}
    for name in ("kw", "p10", "p90"):
        if name in frame.columns:
            try:
                columns[name] = frame[name].cast(pl.Float64, strict=True)
            except pl.exceptions.PolarsError:
                raise ManualForecastError(f"{path}: column {name} has values that are not numbers") from None
    parsed = pl.DataFrame(columns)
    if parsed.null_count().sum_horizontal()[0]:
        raise ManualForecastError(f"{path}: empty cells in {[c for c in parsed.columns if parsed[c].null_count()]}")
    if (parsed["kw"] < 0).any():
        raise ManualForecastError(f"{path}: negative kw")
    return parsed


def profile(path: Path, facility_id: str, step: timedelta, now: datetime | None = None) -> list[dict[str, Any]]:
    """load_forecasts rows (source='manual') of the CSV, averaged onto `step`; raises ManualForecastError."""
    parsed = _parse(_read(path), path)
    parsed = parsed.with_columns(p10=pl.col("p10") if "p10" in parsed.columns else pl.col("kw"),
                                 p90=pl.col("p90") if "p90" in parsed.columns else pl.col("kw"))
    rows = parsed.group_by(pl.col("ts").dt.truncate(step)).agg(pl.col("p10", "kw", "p90").mean()).sort("ts")
    if not ((rows["p10"] <= rows["kw"]) & (rows["kw"] <= rows["p90"])).all():
        raise ManualForecastError(f"{path}: p10 <= kw <= p90 does not hold in every step")
    generated_at = now or datetime.now(UTC)
    return rows.rename({"kw": "p50"}).with_columns(
        facility_id=pl.lit(facility_id), generated_at=pl.lit(generated_at), source=pl.lit("manual"),
        model_version=pl.lit(f"manual:{path.name}"), data_quality_score=pl.lit(MANUAL_QUALITY),
    ).to_dicts()
