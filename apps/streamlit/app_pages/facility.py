"""Facility: live load at a chosen resolution (zoomable), forecast P10-P90 band against actuals, BMS commands."""

from importlib.util import find_spec

import altair as alt
import polars as pl
import streamlit as st

from apps.streamlit import data
from apps.streamlit.freshness import ago, is_stale, live, safely

st.title("Facility")
fleet: list[dict[str, object]] = safely(data.facilities, [])
names = {str(f["facility_id"]): f"{f['name']} ({f['facility_id']})" for f in fleet}
chosen = st.selectbox("Facility", list(names), format_func=names.__getitem__) if names else None
resolution = st.radio("Resolution", list(data.ROLLUPS), horizontal=True)
hours = st.slider("Hours shown", 1, 48, data.settings().ui_live_hours)


def _chart(load: pl.DataFrame, forecast: pl.DataFrame) -> alt.LayerChart | alt.FacetChart:
    band = alt.Chart(forecast.to_pandas()).mark_area(opacity=0.25, color="#1e88e5").encode(
        x=alt.X("ts:T", title="time (UTC)"), y=alt.Y("p10:Q", title="kW"), y2="p90:Q",
        tooltip=["ts:T", "p10", "p50", "p90"])
    median = alt.Chart(forecast.to_pandas()).mark_line(strokeDash=[4, 3], color="#1e88e5").encode(x="ts:T", y="p50:Q")
    actual = alt.Chart(load.to_pandas()).mark_line(color="#212121").encode(x="ts:T", y="kw:Q", tooltip=["ts:T", "kw"])
    return alt.layer(band, median, actual).interactive(bind_y=False)  # drag to pan, scroll to zoom the time axis


def facility() -> None:
    if chosen is None:
        st.info("No facilities to show.")
        return
    empty = pl.DataFrame(schema={"ts": data.UTC_TS, "kw": pl.Float64(), "kw_min": pl.Float64(), "kw_max": pl.Float64()})
    load = safely(lambda: data.load_history(chosen, data.ROLLUPS[str(resolution)], hours), empty)
    forecasts = safely(data.latest_forecasts, pl.DataFrame(schema=data.FORECAST_SCHEMA))
    forecast = forecasts.filter(pl.col("facility_id") == chosen)
    newest = load["ts"].max() if load.height else None
    if is_stale(newest):  # type: ignore[arg-type]
        st.warning(f"Stale data: newest load total {ago(newest)}.", icon=":material/schedule:")  # type: ignore[arg-type]
    left, right = st.columns(2)
    left.metric("Newest load", f"{load['kw'][-1]:,.0f} kW" if load.height else "-", help="newest rollup value")
    left.caption(f"{chosen} · {resolution} totals · newest {ago(newest)}")  # type: ignore[arg-type]
    issued = forecast["generated_at"][0] if forecast.height else None
    right.metric("Forecast source", str(forecast["source"][0]) if forecast.height else "-")
    right.caption(f"forecast issued {ago(issued)}")
    if load.height or forecast.height:
        st.altair_chart(_chart(load, forecast), width="stretch")
    else:
        st.info("No load or forecast yet for this facility.")
    _commands(chosen)


def _commands(facility_id: str) -> None:
    st.subheader("BMS command history")
    none_sent: list[dict[str, object]] | None = []
    commands = safely(lambda: data.bms_commands(facility_id), none_sent)
    if commands is None:
        st.info("No BMS command table in this database yet (it comes with the DR saga).")
    elif commands:
        st.dataframe(commands, hide_index=True)
    else:
        st.caption("No BMS commands sent to this facility.")


live(facility)

st.subheader("Manual load profile")
if find_spec("assets.forecast_upload") is None:
    st.info("Manual profile upload is not available yet: it needs the forecasting layer's upload function "
            "(`sems forecast upload`), which this build does not have.", icon=":material/info:")
