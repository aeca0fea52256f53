"""Fleet overview: every facility's current load against its contract demand, forecast peak, DR status, data age."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl
import streamlit as st

from apps.streamlit import data, data_dr
from apps.streamlit.freshness import ago, is_stale, live, safely

st.title("Fleet overview")


def _today_peak(forecasts: pl.DataFrame, facility_id: str, timezone: str) -> tuple[float | None, str]:
    """The highest P50 of the facility's local today in its latest forecast, and when."""
    tz = ZoneInfo(timezone)
    today = datetime.now(tz).date()
    own = forecasts.filter(pl.col("facility_id") == facility_id)
    steps = [(r["p50"], r["ts"]) for r in own.iter_rows(named=True) if r["ts"].astimezone(tz).date() == today]
    if not steps:
        return None, "no forecast for today"
    kw, ts = max(steps)
    return kw, f"{ts.astimezone(tz):%H:%M} local · issued {ago(own['generated_at'][0])}"


def _colour(percent: float | None) -> str:
    if percent is None:
        return ""
    colour = "#c62828" if percent >= 100 else "#ef6c00" if percent >= 80 else "#2e7d32"
    return f"color: {colour}; font-weight: bold"


def _rows() -> pd.DataFrame:
    fleet: list[dict[str, object]] = safely(data.facilities, [])
    loads: dict[str, dict[str, object]] = safely(data.current_load, {})
    forecasts = safely(data.latest_forecasts, pl.DataFrame(schema=data.FORECAST_SCHEMA))
    dr: dict[str, str] = safely(data_dr.active_dr_facilities, {})
    rows = []
    for f in fleet:
        fid, contract = str(f["facility_id"]), float(str(f["contract_demand_kw"]))
        load = loads.get(fid)
        kw = float(str(load["kw"])) if load else None
        peak, peak_note = _today_peak(forecasts, fid, str(f["timezone"]))
        rows.append({
            "Facility": f"{f['name']} ({fid})", "Load kW": kw, "% of contract": 100 * kw / contract if kw else None,
            "Contract kW": contract, "Forecast peak today kW": peak, "Peak": peak_note,
            "DR": dr.get(fid, "none"), "Data age": ago(load["until"] if load else None),  # type: ignore[arg-type]
            "_stale": is_stale(load["until"] if load else None),  # type: ignore[arg-type]
        })
    return pd.DataFrame(rows)


def overview() -> None:
    frame = _rows()
    if frame.empty:
        st.info("No facilities to show.")
        return
    stale = frame.loc[frame["_stale"], "Facility"].tolist()
    if stale:
        limit = data.settings().ui_stale_after_s
        st.warning(f"Stale data (no reading for more than {limit:.0f} s): {', '.join(stale)}",
                   icon=":material/schedule:")
    shown = frame.drop(columns="_stale")
    styled = shown.style.format(
        {"Load kW": "{:,.0f}", "% of contract": "{:.0f} %", "Contract kW": "{:,.0f}",
         "Forecast peak today kW": "{:,.0f}"},
        na_rep="-",
    ).map(_colour, subset=["% of contract"])
    st.table(styled)
    st.caption(f"Data age = time since the end of the facility's newest 1-minute load total; checked at "
               f"{datetime.now(UTC):%H:%M:%S} UTC.")


live(overview)
