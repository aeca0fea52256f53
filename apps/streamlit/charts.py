"""The UI's Altair charts, one function per chart, built from polars frames; pages only place them."""

from __future__ import annotations

import altair as alt
import polars as pl

BAND = "#1e88e5"
STATE_COLOURS = {  # the saga's states, from planning (grey) through acting (blue) to outcomes
    "received": "#9e9e9e", "pending": "#9e9e9e", "planned": "#757575", "dispatching": "#64b5f6",
    "active": "#1e88e5", "releasing": "#7e57c2", "completed": "#2e7d32", "failed": "#c62828",
    "compensated": "#ef6c00", "cancelled": "#bdbdbd",
}


def load_band(load: pl.DataFrame, band: pl.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Metered load (black) over the forecast's P10-P90 band and P50 (dashed); drag/scroll zooms time."""
    forecast = band.to_pandas()
    area = alt.Chart(forecast).mark_area(opacity=0.25, color=BAND).encode(
        x=alt.X("ts:T", title="time (UTC)"), y=alt.Y("p10:Q", title="kW"), y2="p90:Q",
        tooltip=["ts:T", "p10", "p50", "p90", "source", "generated_at:T"])
    median = alt.Chart(forecast).mark_line(strokeDash=[4, 3], color=BAND).encode(x="ts:T", y="p50:Q")
    actual = alt.Chart(load.to_pandas()).mark_line(color="#212121").encode(x="ts:T", y="kw:Q", tooltip=["ts:T", "kw"])
    return alt.layer(area, median, actual).interactive(bind_y=False)


def weather(hourly: pl.DataFrame) -> alt.LayerChart:
    """Temperature (line) and humidity (dotted, right axis) per hour ahead."""
    frame = hourly.to_pandas()
    temp = alt.Chart(frame).mark_line(color="#e53935").encode(
        x=alt.X("ts:T", title="time (UTC)"), y=alt.Y("temp_c:Q", title="°C"),
        tooltip=["ts:T", "temp_c", "humidity_pct"])
    humidity = alt.Chart(frame).mark_line(strokeDash=[2, 2], color="#546e7a").encode(
        x="ts:T", y=alt.Y("humidity_pct:Q", title="humidity %"))
    return alt.layer(temp, humidity).resolve_scale(y="independent").properties(height=220)


def sheddable(steps: pl.DataFrame) -> alt.Chart:
    """Sheddable kW per forecast step, stacked by device (lighting, HVAC)."""
    long = steps.unpivot(on=["lighting_kw", "hvac_kw"], index="ts", variable_name="device", value_name="kw")
    return alt.Chart(long.to_pandas()).mark_area().encode(
        x=alt.X("ts:T", title="time (UTC)"), y=alt.Y("kw:Q", stack=True, title="sheddable kW"),
        color=alt.Color("device:N", scale=alt.Scale(domain=["lighting_kw", "hvac_kw"], range=["#fbc02d", "#26a69a"])),
        tooltip=["ts:T", "device", "kw"]).properties(height=220)


def saga_timeline(segments: pl.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Gantt of each facility's saga states (one bar per state while it lasted), event window outlined."""
    frame = segments.to_pandas()
    y = alt.Y("lane:N", title=None, sort=None, axis=alt.Axis(labelLimit=320))
    window = alt.Chart(frame).mark_bar(filled=False, stroke="#424242", strokeDash=[3, 3]).encode(
        x="window_start:T", x2="window_end:T", y=y)
    states = alt.Chart(frame).mark_bar(height=14).encode(
        x=alt.X("start:T", title="time (UTC)"), x2="end:T", y=y,
        color=alt.Color("state:N", scale=alt.Scale(domain=list(STATE_COLOURS), range=list(STATE_COLOURS.values()))),
        tooltip=["event_id", "facility_id", "state", "start:T", "end:T"])
    return alt.layer(window, states).properties(height=max(120, 28 * frame["lane"].nunique())).interactive(bind_y=False)


def target_vs_achieved(rows: pl.DataFrame) -> alt.Chart:
    """Per facility: target, baseline-based achieved reduction (bars side by side) in kW."""
    long = rows.unpivot(on=["target_kw", "achieved_kw"], index="lane", variable_name="measure", value_name="kw")
    return alt.Chart(long.to_pandas()).mark_bar().encode(
        y=alt.Y("lane:N", title=None), yOffset="measure:N", x=alt.X("kw:Q", title="kW"),
        color=alt.Color("measure:N",
                        scale=alt.Scale(domain=["target_kw", "achieved_kw"], range=["#90caf9", "#2e7d32"])),
        tooltip=["lane", "measure", "kw"]).properties(height=max(120, 36 * rows.height))
