"""The data-quality page with AppTest: DLQ depth and reasons, Kafka lag, the bridge's spool, archives and checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from sems.archive.store import open_store
from sems.archive.summary import CheckSummary, day_summary, write_summary
from sems.archive.writer import archive_day
from sems.settings import Settings
from tests.apps.streamlit.conftest import render, render_with
from tests.sems.archive.support import free_day
from tests.support import TopicTail, header, wait_until


def test_data_quality_page_shows_a_fresh_dlq_reason_lag_and_the_bridge_spool(
    settings: Settings, tail: Callable[[str], TopicTail], device: Callable[..., None], facility_id: str
) -> None:
    dlq = tail(settings.kafka_readings_dlq_topic)
    trace_id = uuid.uuid4().hex
    device(f"{settings.mqtt_topic_prefix}/readings/{facility_id}/{facility_id}-m01", b"\xff not json", trace_id)
    wait_until(lambda: dlq.matching(lambda r: trace_id.encode() in header(r, "trace_id")), timeout_s=30,
               what="the malformed payload in the DLQ")
    at = render("data_quality")
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[f"DLQ {settings.kafka_readings_dlq_topic}"].endswith(" messages")
    assert metrics[f"Kafka lag of {settings.beam_consumer_group}"].endswith(" readings")
    assert any(c.value.startswith("Kafka offsets read ") for c in at.caption)
    reasons = at.dataframe[0].value
    assert "invalid_json" in set(reasons["reason"])  # the reason code, counted
    assert any(m.value.startswith(f"**{settings.kafka_readings_dlq_topic}** · newest entry ") for m in at.markdown)
    fill = metrics["Spool fill"]
    assert fill.endswith("%") and 0.0 <= float(fill.rstrip("%")) <= 100.0
    assert metrics["Kafka / MQTT link"] == "up / up"
    assert any(c.value.startswith("bridge /metrics read ") for c in at.caption)


def test_archived_days_show_their_check_outcomes_and_untrusted_days_a_warning(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(settings, str(tmp_path))
    day = free_day(settings)
    manifest = archive_day(settings, store, day)
    failed = CheckSummary(passed=False, severity="ERROR", unexpected_rows=3, details=["kW above contract"])
    passed = CheckSummary(passed=True, severity="ERROR", unexpected_rows=0, details=[])
    write_summary(store, day_summary(manifest, {"schema": passed, "kw_range": failed}))
    store.claim_version(date(2001, 1, 1), "a run that died before its manifest")
    at = render_with("data_quality", monkeypatch, archive_root=str(tmp_path))
    assert not at.exception
    table = next(f.value for f in at.dataframe if "checks" in f.value.columns).set_index("day")
    assert table.loc[str(day), "status"] == "failed" and table.loc[str(day), "version"] == 1
    assert table.loc[str(day), "checks"] == "kw_range FAILED, schema ok"
    assert table.loc["2001-01-01", "status"] == "incomplete"
    assert any(str(day) in w.value and "2001-01-01" in w.value for w in at.warning)
