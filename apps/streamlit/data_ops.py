"""Data access of the operations pages: Kafka DLQs and lag, forecast freshness, MLflow (DR reads: `data_dr`).

Same rules as `data.py`: cached with a TTL, retried once at once, `StoreUnavailable` when a
store cannot answer.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import streamlit as st
from kafka import TopicPartition
from kafka.errors import KafkaError

from apps.streamlit.data import StoreUnavailable, _pg, settings
from sems.resilience import retry
from sems.stores import kafka

MODEL_NAME = "load_forecaster"


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


def _champion_once() -> dict[str, object] | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # MLflow's client retries 7 times with backoff and waits 120 s per request by default: minutes of a frozen page
    # while MLflow is down. The UI retries once itself (S1), so one short attempt per try is what it wants.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    client = MlflowClient(tracking_uri=settings().mlflow_url)
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, "champion")
        run = client.get_run(version.run_id) if version.run_id else None
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return None
        raise StoreUnavailable(f"MLflow: {str(exc)[:160]}") from exc
    except OSError as exc:
        raise StoreUnavailable(f"MLflow: {exc!r}"[:200]) from exc
    return {
        "version": version.version, "run_id": version.run_id,
        "registered_at": datetime.fromtimestamp(version.creation_timestamp / 1000).astimezone(),
        "metrics": dict(run.data.metrics) if run else {}, "params": dict(run.data.params) if run else {},
        "importance": feature_importance(client, version.run_id) if version.run_id else {},
        "read_at": datetime.now(UTC),
    }


def feature_importance(client: Any, run_id: str) -> dict[str, float]:
    """The run's `feature_importance.json` (gain per feature, as training logs it), or {} if it has none."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = client.download_artifacts(run_id, "feature_importance.json", scratch)
        except (MlflowException, OSError):
            return {}  # an older run without the artifact: the page shows the rest
        return {str(k): float(v) for k, v in json.loads(Path(path).read_text()).items()}


@st.cache_data(ttl=60, show_spinner=False)
def champion() -> dict[str, object] | None:
    """The registered `load_forecaster` version aliased `champion` with its run's metrics, or None."""
    return retry(_champion_once, attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)
