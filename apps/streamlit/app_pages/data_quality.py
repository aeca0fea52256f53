"""Data quality: DLQ depth and Kafka lag (from Kafka offsets), forecast freshness and source per facility."""

from datetime import UTC, datetime

import streamlit as st

from apps.streamlit import data, data_ops
from apps.streamlit.freshness import ago, live, safely

st.title("Data quality")


def _kafka() -> None:
    s = data.settings()
    positions: dict[str, dict[str, int]] | None = safely(data_ops.kafka_positions, None)
    if positions is None:
        return
    checked = datetime.now(UTC)
    dlq, lag = st.columns(2)
    for topic in (s.kafka_readings_dlq_topic, s.kafka_questdb_dlq_topic):
        dlq.metric(f"DLQ {topic}", f"{positions['messages'].get(topic, 0):,} messages",
                   help="end minus beginning offset: what the DLQ holds within its retention")
    lag.metric(f"Kafka lag of {s.beam_consumer_group}", f"{positions['lag'][s.beam_consumer_group]:,} readings",
               help="end offsets minus the Beam job's committed offsets on the readings topic")
    lag.caption(f"Kafka offsets read {ago(checked)}")


def _forecasts() -> None:
    st.subheader("Forecast freshness and source")
    rows: list[dict[str, object]] = safely(data_ops.forecast_freshness, [])
    if not rows:
        st.caption("No forecast issued yet.")
        return
    stale_after = data.settings().forecast_step_minutes * 60 * 2
    table = [{**r, "issued": ago(r["generated_at"]), "fresh": (datetime.now(UTC) - r["generated_at"]).total_seconds()  # type: ignore[operator, arg-type]
              <= stale_after} for r in rows]
    if not all(r["fresh"] for r in table):
        st.warning("Some forecasts are older than two forecast steps.", icon=":material/schedule:")
    st.dataframe(table, hide_index=True)


def data_quality() -> None:
    _kafka()
    _forecasts()


live(data_quality)
