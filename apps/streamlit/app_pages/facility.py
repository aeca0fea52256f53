"""Facility: load against the forecast band as issued, weather, sheddable load, BMS commands, manual profile upload."""

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from apps.streamlit import charts, data, data_facility
from apps.streamlit.freshness import ago, is_stale, live, safely
from sems.manual_forecast import ManualForecastError

st.title("Facility")
fleet: list[dict[str, object]] = safely(data.facilities, [])
names = {str(f["facility_id"]): f"{f['name']} ({f['facility_id']})" for f in fleet}
chosen = st.selectbox("Facility", list(names), format_func=names.__getitem__) if names else None
resolution = st.radio("Resolution", list(data.ROLLUPS), horizontal=True)
hours = st.slider("Hours shown", 1, 48, data.settings().ui_live_hours)
EMPTY_LOAD = pl.DataFrame(schema={"ts": data.UTC_TS, "kw": pl.Float64(), "kw_min": pl.Float64(),
                                  "kw_max": pl.Float64()})


def _load_and_forecast(facility_id: str) -> None:
    load = safely(lambda: data.load_history(facility_id, data.ROLLUPS[str(resolution)], hours), EMPTY_LOAD)
    band = safely(lambda: data_facility.forecast_band(facility_id, hours), pl.DataFrame(schema=data.FORECAST_SCHEMA))
    # Whatever resolution is charted, data age is that of the newest 1-minute total (coarser buckets may be partial).
    loads: dict[str, dict[str, object]] = safely(data.current_load, {})
    current = loads.get(facility_id)
    newest = current["until"] if current else None
    if is_stale(newest):  # type: ignore[arg-type]
        st.warning(f"Stale data: newest load total {ago(newest)}.", icon=":material/schedule:")  # type: ignore[arg-type]
    now = datetime.now(UTC)
    latest = band.filter(pl.col("ts") >= now)
    issued = latest["generated_at"].max() if latest.height else None
    coverage = data_facility.band_coverage(load, band, data.settings().forecast_step_minutes)
    left, middle, right = st.columns(3)
    left.metric("Current load", f"{float(str(current['kw'])):,.0f} kW" if current else "-",
                help="the newest 1-minute total")
    left.caption(f"{facility_id} · newest 1-minute total {ago(newest)} · chart: {resolution} totals")  # type: ignore[arg-type]
    middle.metric("Forecast source", str(latest["source"][-1]) if latest.height else "-")
    middle.caption(f"latest forecast issued {ago(issued)}")  # type: ignore[arg-type]
    right.metric("Actuals inside P10-P90", f"{coverage[0]:.0%}" if coverage else "-",
                 help="share of the shown load points inside the band forecast before they happened")
    right.caption(f"{coverage[1]} points compared · load {ago(newest)}" if coverage  # type: ignore[arg-type]
                  else "no load inside a forecast step yet")
    if load.height or band.height:
        st.altair_chart(charts.load_band(load, band), width="stretch")
        st.caption("Band: P10-P90 of the newest forecast issued before each step began (past steps are what was "
                   "really forecast); dashed: P50; black: metered load. Drag or scroll to zoom the time axis.")
    else:
        st.info("No load or forecast yet for this facility.")


def _weather(facility_id: str) -> None:
    st.subheader("Weather")
    stored = safely(lambda: data_facility.weather(facility_id), None)
    if stored is None:
        st.caption("No weather stored for this facility yet (the `weather_forecast` asset has not run here).")
        return
    hourly: pl.DataFrame = stored["hourly"].filter(pl.col("ts") >= datetime.now(UTC).replace(minute=0, second=0))
    now_row = hourly.head(1)
    st.metric("Temperature this hour", f"{now_row['temp_c'][0]:.1f} °C" if now_row.height else "-")
    st.caption(f"provider {stored['provider']} · fetched {ago(stored['fetched_at'])} · "
               f"{hourly.height} hours ahead")
    if hourly.height:
        st.altair_chart(charts.weather(hourly), width="stretch")


def _sheddable(facility_id: str) -> None:
    st.subheader("Sheddable load forecast")
    plan = safely(lambda: data_facility.sheddable(facility_id), None)
    if plan is None:
        return
    steps = pl.DataFrame(plan["steps"], schema={"ts": pl.Object(), "p10_kw": pl.Float64(), "lighting_kw": pl.Float64(),
                                                "hvac_kw": pl.Float64(), "sheddable_kw": pl.Float64()}, orient="row")
    st.metric("A DR event over the forecast horizon could count on", f"{plan['window_kw']:,.0f} kW",
              help="lighting to 50 % and HVAC setpoint +3 °C on the lowest P10 (pipelines.dr.plan), as a dispatch "
                   "now would plan it")
    st.caption(f"forecast quality {plan['quality']} (x{plan['factor']:.2f}) · from the forecast issued "
               f"{ago(plan['generated_at'])}")
    if steps.height:
        steps = steps.with_columns(pl.col("ts").map_elements(lambda v: v.astimezone(UTC), return_dtype=data.UTC_TS))
        st.altair_chart(charts.sheddable(steps), width="stretch")
    else:
        st.caption("No forecast steps: the planner would assume 30 % of contract demand as the base load.")


def _commands(facility_id: str) -> None:
    st.subheader("BMS command history")
    none_sent: list[dict[str, object]] | None = []
    commands = safely(lambda: data.bms_commands(facility_id), none_sent)
    if commands is None:
        st.info("No BMS command table in this database yet (it comes with the DR saga).")
    elif commands:
        st.dataframe([{"sent": ago(c["created_at"]), **c} for c in commands], hide_index=True)  # type: ignore[arg-type]
    else:
        st.caption("No BMS commands sent to this facility.")


def facility() -> None:
    if chosen is None:
        st.info("No facilities to show.")
        return
    _load_and_forecast(chosen)
    _weather(chosen)
    _sheddable(chosen)
    _commands(chosen)


live(facility)

st.subheader("Manual load profile")
st.caption("A CSV with `ts` (ISO 8601, naive = UTC) and `kw`, optionally `p10` and `p90`; averaged onto the forecast "
           "step. It overrides the forecast for the period it covers (`sems forecast upload` does the same).")
if chosen is not None:
    with st.form("manual_profile", clear_on_submit=True):
        uploaded = st.file_uploader("Load profile (CSV)", type=["csv"])
        if st.form_submit_button("Upload profile"):
            if uploaded is None:
                st.session_state["upload_result"] = ("error", "Choose a CSV file first.")
            else:
                try:
                    message = data_facility.upload_profile(chosen, uploaded.name, uploaded.getvalue())
                    st.session_state["upload_result"] = ("success", message)
                except ManualForecastError as exc:
                    st.session_state["upload_result"] = ("error", f"Not uploaded: {exc}")
            st.rerun()  # the whole page again, so the charts above show the stored profile
    outcome = st.session_state.pop("upload_result", None)
    if outcome and outcome[0] == "success":
        st.success(outcome[1], icon=":material/check:")
    elif outcome:
        st.error(outcome[1], icon=":material/error:")
