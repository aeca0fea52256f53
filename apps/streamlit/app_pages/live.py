"""Live load: each facility's recent load and latest forecast, with the age of its newest reading."""

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from apps.streamlit import data

settings = data.settings()
st.title("Live load")
st.caption(f"Refreshes every {settings.ui_refresh_s:.0f} s. Forecast lines: p10, p50, p90 of the latest forecast.")


def _safely(read, fallback):  # type: ignore[no-untyped-def]
    """The result of `read()`, or `fallback` after an error banner when its store is down."""
    try:
        return read()
    except data.StoreUnavailable as exc:
        st.error(f"{exc} - showing what is available; retrying on the next refresh.", icon=":material/error:")
        return fallback


def _chart(load: pl.DataFrame, forecast: pl.DataFrame) -> None:
    series = [load.select("ts", pl.col("kw").alias("load kW"))]
    if forecast.height:
        series.append(forecast.select("ts", "p10", pl.col("p50").alias("forecast p50"), "p90"))
    frame = pl.concat(series, how="diagonal").sort("ts")
    if frame.height:
        st.line_chart(frame.to_pandas(), x="ts")
    else:
        st.info("No load or forecast yet for this facility.")


def _facility(facility: dict, newest: datetime | None, load: pl.DataFrame, forecast: pl.DataFrame) -> None:
    now = datetime.now(UTC)
    st.subheader(str(facility["name"]))
    age = data.age_text(newest, now)
    if newest is None or (now - newest).total_seconds() > settings.ui_stale_after_s:
        expected = f"expected every {settings.simulator_interval_s:.0f} s"
        st.warning(f"Stale data: {age} ({expected}).", icon=":material/schedule:")
    current = load.sort("ts")["kw"][-1] if load.height else None
    left, right = st.columns(2)
    left.metric("Current load", f"{current:,.0f} kW" if current is not None else "-")
    right.metric("Contract demand", f"{facility['contract_demand_kw']:,.0f} kW")
    st.caption(f"{facility['facility_id']} · {age}")
    _chart(load, forecast)


@st.fragment(run_every=settings.ui_refresh_s)
def live() -> None:
    fleet = _safely(data.facilities, [])
    newest = _safely(data.last_reading_at, {})
    load = _safely(lambda: data.live_load(settings.ui_live_hours), pl.DataFrame(schema=data.LOAD_SCHEMA))
    forecasts = _safely(data.latest_forecasts, pl.DataFrame(schema=data.FORECAST_SCHEMA))
    for facility in fleet:
        fid = facility["facility_id"]
        own = pl.col("facility_id") == fid
        _facility(facility, newest.get(fid), load.filter(own), forecasts.filter(own))


live()
