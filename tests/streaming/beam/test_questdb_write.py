"""WriteToQuestDB against the running QuestDB: a frame QuestDB refuses while up ends in `questdb-write.dlq`."""

from __future__ import annotations

import http.server
import json
import socket
import struct
import threading
import uuid
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest
from kafka import TopicPartition

from sems.settings import Settings
from sems.stores import kafka, questdb
from streaming.beam.questdb_write import write_to_questdb
from tests.support import wait_until


def test_rows_questdb_refuses_go_to_the_dlq_with_the_reason(settings: Settings) -> None:
    marker = f"refused-{uuid.uuid4().hex[:10]}"
    tail = kafka.consumer(settings, None, enable_auto_commit=False)  # type: ignore[arg-type]
    parts = [TopicPartition(settings.kafka_questdb_dlq_topic, p)
             for p in tail.partitions_for_topic(settings.kafka_questdb_dlq_topic)]
    tail.assign(parts)
    tail.seek_to_end()
    for part in parts:
        tail.position(part)
    # `kw` is a DOUBLE column: a string there is refused by QuestDB on every try, while QuestDB is up.
    frame = pd.DataFrame({"ts": [pd.Timestamp(datetime.now(UTC))], "facility_id": ["it-fac"],
                          "meter_id": [marker], "kw": ["not a number"]})
    try:
        assert write_to_questdb(settings, "readings", frame) == 0
        seen: list = []

        def dead_lettered() -> list:
            seen.extend(m for batch in tail.poll(timeout_ms=500).values() for m in batch)
            return [m for m in seen if marker.encode() in m.value]

        [entry] = wait_until(dead_lettered, timeout_s=30, what="the refused rows in questdb-write.dlq")
    finally:
        tail.close()
    value = json.loads(entry.value)
    assert entry.key == b"readings" and value["table"] == "readings"
    assert value["reason"].startswith("write refused after") and value["rows"][0]["meter_id"] == marker
    assert questdb.query(settings, f"SELECT count() n FROM readings WHERE meter_id = '{marker}'") == [{"n": 0}]


class _ResetWrites(http.server.BaseHTTPRequestHandler):
    """A broken network path to the real QuestDB: queries pass through, ILP writes are cut mid-request."""

    upstream = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        answer = httpx.get(self.upstream + self.path, timeout=5)
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def do_POST(self) -> None:  # noqa: N802
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()  # RST: the write's answer never comes

    def log_message(self, *_args: object) -> None:
        pass


def test_a_transport_failure_while_questdb_answers_fails_the_run_and_dead_letters_nothing(
    settings: Settings,
) -> None:
    _ResetWrites.upstream = settings.questdb_http_url
    proxy = http.server.ThreadingHTTPServer((settings.host, 0), _ResetWrites)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    broken = settings.model_copy(update={"questdb_http_port": proxy.server_address[1], "beam_write_attempts": 2})
    frame = pd.DataFrame({"ts": [pd.Timestamp(datetime.now(UTC))], "facility_id": ["it-fac"],
                          "meter_id": [f"reset-{uuid.uuid4().hex[:10]}"], "kw": [1.0]})
    try:
        with pytest.raises(questdb.QuestDBError) as failed:
            write_to_questdb(broken, "readings", frame)
    finally:
        proxy.shutdown()
    assert not isinstance(failed.value, questdb.QuestDBRefused)  # not the DLQ's business: the run is retried
