"""Data quality: DLQ depth and reasons, Kafka lag, bridge spool, archives and their GX checks, forecast freshness."""

from datetime import UTC, datetime
from typing import Any

import streamlit as st

from apps.streamlit import data, data_ops, data_pipeline
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


def _dlq_reasons() -> None:
    st.subheader("Recent DLQ reasons")
    s = data.settings()
    for topic in (s.kafka_readings_dlq_topic, s.kafka_questdb_dlq_topic):
        entries: list[dict[str, Any]] = safely(lambda t=topic: data_pipeline.dlq_recent(t), [])  # type: ignore[misc]
        if not entries:
            st.caption(f"{topic}: no entries.")
            continue
        st.markdown(f"**{topic}** · newest entry {ago(entries[0]['ts'])}")
        st.dataframe([{**r, "newest": ago(r["newest"])} for r in data_pipeline.reason_counts(entries)],
                     hide_index=True)


def _bridge() -> None:
    st.subheader("MQTT bridge")
    gauges: dict[str, Any] | None = safely(data_pipeline.bridge, None)
    if gauges is None:
        return
    spooled, limit = gauges.get("sems_bridge_spool_bytes", 0.0), gauges["spool_max_bytes"]
    fill = spooled / limit if limit else 0.0
    if gauges.get("sems_bridge_backpressure"):
        st.error("The bridge's spool is above 80 %: it no longer acknowledges MQTT (backpressure).",
                 icon=":material/error:")
    elif gauges.get("sems_bridge_kafka_reachable") == 0:
        st.warning("The bridge cannot reach Kafka: readings go to its disk spool.", icon=":material/warning:")
    spool, link, acks = st.columns(3)
    spool.metric("Spool fill", f"{fill:.1%}", help=f"{spooled / 1e6:,.1f} MB of {limit / 1e6:,.0f} MB (compressed)")
    link.metric("Kafka / MQTT link", f"{'up' if gauges.get('sems_bridge_kafka_reachable') else 'down'} / "
                                     f"{'up' if gauges.get('sems_bridge_mqtt_connected') else 'down'}")
    acks.metric("Waiting for Kafka", f"{gauges.get('sems_bridge_pending_acks', 0):,.0f} messages")
    spool.caption(f"bridge /metrics read {ago(gauges['read_at'])}")


def _archives() -> None:
    st.subheader("Archives and checks")
    days: list[dict[str, Any]] = safely(data_pipeline.archives, [])  # type: ignore[arg-type]
    if not days:
        st.caption("Nothing archived yet (the daily archive runs at 01:30 UTC for the previous day).")
        return
    bad = [f"{d['day']} ({d['status']})" for d in days if d["status"] in ("failed", "incomplete")]
    if bad:
        st.warning(f"Archive days that cannot be trusted: {', '.join(bad)}", icon=":material/fact_check:")
    st.dataframe([{
        "day": d["day"], "status": d["status"], "version": d["version"],
        "archived": ago(_when(d["archived_at"])), "checked": ago(_when(d["checked_at"])),
        "readings": d["rows"].get("readings"), "MB": round(d["bytes"] / 1e6, 1),
        "checks": ", ".join(f"{n} {'ok' if c['passed'] else 'FAILED'}" for n, c in sorted(d["checks"].items()))
        or "not run",
    } for d in days], hide_index=True)


def _when(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso) if iso else None


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
    _dlq_reasons()
    _bridge()
    _archives()
    _forecasts()


live(data_quality)
