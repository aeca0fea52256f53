"""Data access of the operations pages: DR events and their saga, Kafka DLQs and lag, forecast freshness, MLflow.

Same rules as `data.py`: cached with a TTL, retried once at once, `StoreUnavailable` when a
store cannot answer.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime

import streamlit as st
from kafka import TopicPartition
from kafka.errors import KafkaError

from apps.streamlit.data import StoreUnavailable, _pg, settings
from sems.resilience import retry
from sems.stores import kafka

MODEL_NAME = "load_forecaster"


@st.cache_data(ttl=5, show_spinner=False)
def dr_events(limit: int = 50) -> list[dict[str, object]]:
    """Recent DR events, newest first."""
    return _pg("""SELECT event_id, utility_id, status, starts_at, ends_at, target_reduction_kw, received_at, updated_at
                  FROM dr_events ORDER BY starts_at DESC LIMIT :limit""", limit=limit)


@st.cache_data(ttl=5, show_spinner=False)
def dr_participation() -> list[dict[str, object]]:
    """Each facility's saga state in each recent event."""
    return _pg("""SELECT event_id, facility_id, state, target_reduction_kw, achieved_reduction_kw, updated_at
                  FROM dr_event_facilities ORDER BY updated_at DESC LIMIT 500""")


@st.cache_data(ttl=5, show_spinner=False)
def dr_audit_log(limit: int = 200) -> list[dict[str, object]]:
    return _pg("SELECT event_id, ts, actor, transition, detail FROM dr_audit_log ORDER BY ts DESC LIMIT :limit",
               limit=limit)


@st.cache_data(ttl=5, show_spinner=False)
def active_dr_facilities() -> dict[str, str]:
    """Facilities in a pending, dispatching or active event: {facility_id: event status}."""
    rows = _pg("""SELECT f.facility_id, e.status FROM dr_event_facilities f JOIN dr_events e USING (event_id)
                  WHERE e.status IN ('pending', 'dispatching', 'active') ORDER BY e.starts_at""")
    return {str(r["facility_id"]): str(r["status"]) for r in rows}


def _kafka_positions() -> dict[str, dict[str, int]]:
    s = settings()
    topics = [s.kafka_readings_topic, s.kafka_readings_dlq_topic, s.kafka_questdb_dlq_topic]
    try:
        # In the Beam job's group but never subscribed: reading its committed offsets does not join the group.
        with closing(kafka.consumer(s, s.beam_consumer_group)) as reader:
            parts = [TopicPartition(t, p) for t in topics for p in (reader.partitions_for_topic(t) or ())]
            begin, end = reader.beginning_offsets(parts), reader.end_offsets(parts)
            readings = [tp for tp in parts if tp.topic == s.kafka_readings_topic]
            committed = {tp: reader.committed(tp) for tp in readings}
    except (KafkaError, OSError) as exc:
        raise StoreUnavailable(f"Kafka: {exc!r}"[:200]) from exc
    depth = {t: sum(end[tp] - begin[tp] for tp in parts if tp.topic == t) for t in topics}
    lag = sum(end[tp] - (committed[tp] if committed[tp] is not None else begin[tp]) for tp in readings)
    return {"messages": depth, "lag": {s.beam_consumer_group: lag}}


@st.cache_data(ttl=10, show_spinner=False)
def kafka_positions() -> dict[str, dict[str, int]]:
    """Messages held per topic (end - beginning offset; for a DLQ its depth) and the Beam job's lag."""
    return retry(_kafka_positions, attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)


@st.cache_data(ttl=15, show_spinner=False)
def forecast_freshness() -> list[dict[str, object]]:
    """Per facility: when its newest forecast was issued, by which source and model."""
    return _pg("""SELECT DISTINCT ON (facility_id) facility_id, generated_at, source, model_version, data_quality_score
                  FROM load_forecasts ORDER BY facility_id, generated_at DESC""")


@st.cache_data(ttl=60, show_spinner=False)
def champion() -> dict[str, object] | None:
    """The registered `load_forecaster` version aliased `champion` with its run's metrics, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=settings().mlflow_url)
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return None
        raise StoreUnavailable(f"MLflow: {str(exc)[:160]}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"MLflow: {exc!r}"[:200]) from exc
    run = client.get_run(version.run_id) if version.run_id else None
    return {
        "version": version.version, "run_id": version.run_id,
        "registered_at": datetime.fromtimestamp(version.creation_timestamp / 1000).astimezone(),
        "metrics": dict(run.data.metrics) if run else {}, "params": dict(run.data.params) if run else {},
    }
