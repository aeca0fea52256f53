"""Data access of the data-quality page beyond Kafka offsets: DLQ reasons, the bridge's spool, archives and checks.

Same rules as `data.py`: cached with a TTL, retried once at once, `StoreUnavailable` when a
source cannot answer, and every value carries when it was read or produced.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import httpx
import streamlit as st
from kafka import TopicPartition
from kafka.errors import KafkaError
from prometheus_client.parser import text_string_to_metric_families

from apps.streamlit.data import StoreUnavailable, settings
from sems.archive.store import ArchiveError, open_store
from sems.archive.summary import DaySummary, load_summaries
from sems.resilience import retry
from sems.stores import kafka

BRIDGE_GAUGES = ("sems_bridge_spool_bytes", "sems_bridge_backpressure", "sems_bridge_kafka_reachable",
                 "sems_bridge_mqtt_connected", "sems_bridge_pending_acks")
BRIDGE_TIMEOUT_S = 3.0  # a page waits at most this (twice, with the retry) for a bridge that hangs


def _reason(value: bytes | None, headers: list[tuple[str, bytes]]) -> str:
    """The Beam job and the QuestDB writer put the reason in a header; the bridge in the JSON value."""
    for key, raw in headers or ():
        if key == "reason":
            return raw.decode(errors="replace")
    try:
        return str(json.loads(value or b"{}").get("reason", "(no reason recorded)"))
    except (ValueError, AttributeError):
        return "(no reason recorded)"


def _recent(topic: str, per_partition: int) -> list[dict[str, Any]]:
    s = settings()
    try:
        # Assigned, never subscribed, never committing: reading a DLQ's tail joins no group and moves no offset.
        with closing(kafka.consumer(s, "sems-ui-dlq-reader")) as reader:
            parts = [TopicPartition(topic, p) for p in (reader.partitions_for_topic(topic) or ())]
            if not parts:
                return []
            reader.assign(parts)
            begin, end = reader.beginning_offsets(parts), reader.end_offsets(parts)
            for tp in parts:
                reader.seek(tp, max(begin[tp], end[tp] - per_partition))
            wanted = sum(end[tp] - max(begin[tp], end[tp] - per_partition) for tp in parts)
            records: list[dict[str, Any]] = []
            while len(records) < wanted:
                batch = reader.poll(timeout_ms=2000, max_records=500)
                if not batch:
                    break
                records += [{"ts": datetime.fromtimestamp(r.timestamp / 1000, UTC), "partition": r.partition,
                             "offset": r.offset, "reason": _reason(r.value, r.headers)}
                            for rs in batch.values() for r in rs]
    except (KafkaError, OSError) as exc:
        raise StoreUnavailable(f"Kafka: {exc!r}"[:200]) from exc
    return sorted(records, key=lambda r: r["ts"], reverse=True)


@st.cache_data(ttl=10, show_spinner=False)
def dlq_recent(topic: str, per_partition: int = 50) -> list[dict[str, Any]]:
    """The newest DLQ entries (up to `per_partition` each), newest first: ts, partition, offset, reason."""
    return retry(lambda: _recent(topic, per_partition), attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)


def reason_counts(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries grouped by reason (the part before the first ':' is the reason code), most frequent first."""
    counts = Counter(str(e["reason"]).split(":", 1)[0][:120] for e in entries)
    newest: dict[str, datetime] = {}
    for e in entries:
        newest.setdefault(str(e["reason"]).split(":", 1)[0][:120], e["ts"])
    return [{"reason": r, "entries": n, "newest": newest[r]} for r, n in counts.most_common()]


def _bridge_once() -> dict[str, float]:
    s = settings()
    try:
        body = httpx.get(f"http://{s.host}:{s.bridge_port}/metrics", timeout=BRIDGE_TIMEOUT_S).text
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"MQTT bridge: /metrics did not answer ({type(exc).__name__})") from exc
    values = {sample.name: sample.value for family in text_string_to_metric_families(body)
              for sample in family.samples if sample.name in BRIDGE_GAUGES}
    return {**values, "spool_max_bytes": float(s.bridge_spool_max_bytes)}


@st.cache_data(ttl=5, show_spinner=False)
def bridge() -> dict[str, Any]:
    """The bridge's spool and link gauges from its /metrics, and when they were read."""
    values = retry(_bridge_once, attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)
    return {**values, "read_at": datetime.now(UTC)}


def _archives_once(days: int) -> list[DaySummary]:
    try:
        return load_summaries(open_store(settings()), days=days)
    except (ArchiveError, OSError, ValueError) as exc:
        raise StoreUnavailable(f"archive store: {exc}"[:200]) from exc


@st.cache_data(ttl=60, show_spinner=False)
def archives(days: int = 14) -> list[DaySummary]:
    """The newest archived days, newest first (`sems.archive.summary`): status, version, rows, GX check outcomes."""
    return retry(lambda: _archives_once(days), attempts=2, retry_on=(StoreUnavailable,), base_delay_s=0.1)
