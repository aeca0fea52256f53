"""The raw `readings` sink of the job: reading batches written while the run still reads Kafka.

`WriteReadingsFn` hands every `WRITE_CHUNK_ROWS` readings to a background writer (at most
`beam_write_connections` chunks in flight, so memory stays bounded) and keeps taking
batches meanwhile: the Kafka read and parse of the next chunk overlap QuestDB's parse and
commit of this one, where before a 1 M-reading run read everything, then wrote everything.
The writers only serialize and send (`attempt_write`, native code that releases the GIL);
building frames, dead-lettering and Beam counters stay in the bundle's thread. `finish_bundle` waits for every chunk, so
the touched minutes go downstream (and the run can commit) only after QuestDB acknowledged
all of them; a failed chunk fails the bundle and the run is retried (DEDUP UPSERT KEYS).
Each chunk goes out sorted by time, its newest `HELD_ROWS` kept back to be sorted in with the
next one, so that consecutive commits do not overlap in time (QuestDB rewrites what an
out-of-order commit overlaps).
Lineage goes to `reading_lineage`, one row per Kafka record (its messages' trace ids, oldest and
newest reading, first meter, count), written once the bundle's readings are all acknowledged,
stamped with that time (`ingested_at`): per reading, a trace id and a stamp cost ~20 % of the drain rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue
from pandas.api.types import union_categoricals

from sems.settings import Settings
from sems.stores.questdb import WRITE_CHUNK_ROWS
from streaming.beam.meter_deltas import chunk_deltas, merge_chunk_deltas, minute_deltas
from streaming.beam.questdb_io import at_minute
from streaming.beam.questdb_write import attempt_write, dead_letter
from streaming.beam.records import ReadingBatch
from streaming.beam.step_time import NAMESPACE

TABLE = "readings"
LINEAGE_TABLE = "reading_lineage"
HELD_ROWS = WRITE_CHUNK_ROWS // 10  # ~0.1 s of readings at 100,000/s


def readings_frame(batches: Sequence[ReadingBatch]) -> pd.DataFrame:
    """The `readings` rows of `batches` (one row per reading, in batch order), built column-wise.

    The string columns are categoricals: facility is one value per batch (codes repeated per
    reading) and meter ids repeat across batches, so each distinct string is
    converted once. Built from 1 M Python strings instead, the frame took ~1 s of a run's
    ~10 s; the QuestDB client also serializes categoricals without holding the GIL.
    """
    meter_id: list[str] = []
    ts_ms: list[int] = []
    kw: list[float] = []
    kwh: list[float | None] = []
    seq: list[int | None] = []
    for batch in batches:
        columns = batch.readings
        meter_id += columns.meter_id
        ts_ms += columns.ts_ms
        kw += columns.kw
        kwh += columns.kwh
        seq += columns.seq
    per_batch = np.repeat(np.arange(len(batches)), [len(batch.readings) for batch in batches])
    return pd.DataFrame({
        "ts": pd.to_datetime(np.array(ts_ms, dtype="int64"), unit="ms", utc=True),
        "facility_id": _per_batch([batch.facility_id for batch in batches], per_batch),
        "meter_id": _categorical(meter_id),
        "kw": np.array(kw, dtype="float64"),
        "kwh": np.array(kwh, dtype="float64"),  # None -> NaN, which QuestDB stores as null
        "seq": pd.array(seq, dtype="Int64"),
    })


def lineage_frame(batches: Sequence[ReadingBatch], readings: pd.DataFrame) -> pd.DataFrame:
    """One `reading_lineage` row per Kafka record of `batches`; `readings` is their `readings_frame`, unsorted.

    Per record, not per MQTT message: in single-reading mode a message is one reading, and a row
    per message cost QuestDB as much as the reading itself (landed 14.7k -> 9.5k messages/s). A
    record merged from several messages lists them all (`trace_ids`, `trace_readings`, in reading order).
    """
    kept = [batch for batch in batches if len(batch.readings)]
    sizes = np.array([len(batch.readings) for batch in kept], dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64) if kept else sizes
    ts_ms = readings["ts"].to_numpy(dtype="datetime64[ms]").astype("int64")
    first = np.minimum.reduceat(ts_ms, starts) if kept else ts_ms[:0]
    last = np.maximum.reduceat(ts_ms, starts) if kept else ts_ms[:0]
    meters = readings["meter_id"].array
    spans = [batch.trace_spans for batch in kept]
    return pd.DataFrame({
        "ts": pd.to_datetime(first, unit="ms", utc=True),
        "facility_id": _categorical([batch.facility_id for batch in kept]),
        "trace_id": _categorical([batch.trace_id for batch in kept]),
        "trace_ids": pd.array([",".join(t for t, _ in s) if s else None for s in spans], dtype="string"),
        "trace_readings": pd.array([",".join(str(n) for _, n in s) if s else None for s in spans], dtype="string"),
        "meter_id": pd.Categorical.from_codes(meters.codes[starts], dtype=meters.dtype),
        "last_ts": pd.to_datetime(last, unit="ms", utc=True),
        "readings": sizes,
    })


def _per_batch(values: list[str], per_batch: np.ndarray) -> pd.Categorical:
    """A categorical column of one value per batch, repeated for each of the batch's readings."""
    batch_values = _categorical(values)
    return pd.Categorical.from_codes(batch_values.codes[per_batch], dtype=batch_values.dtype)


def _categorical(values: list[str]) -> pd.Categorical:
    encoded = pa.array(values, type=pa.string()).dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    return pd.Categorical.from_codes(codes, categories=pd.Index(encoded.dictionary.to_pylist(), dtype="str"))


def concat_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """`frames` one after another, their categorical columns still categorical (pandas would make them objects)."""
    columns = {}
    for name in frames[0].columns:
        parts = [frame[name] for frame in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            columns[name] = union_categoricals([part.array for part in parts], ignore_order=True)
        else:
            columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


@dataclass(frozen=True)
class _Chunk:
    """What a background writer did with one chunk: its frame, why it was refused (if it was), how long it took."""

    frame: pd.DataFrame
    refusal: str | None
    ms: int


class WriteReadingsFn(beam.DoFn):  # type: ignore[misc]
    """Writes a bundle's reading batches to `readings` in background chunks; then emits the minutes it touched."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.written = Metrics.counter(NAMESPACE, "readings_written")
        self.writer_ms = Metrics.counter(NAMESPACE, "ms_write_readings")
        self.waited_ms = Metrics.counter(NAMESPACE, "ms_wait_readings")
        self.pool: ThreadPoolExecutor | None = None
        self._reset()

    def _reset(self) -> None:
        self.buffer: list[ReadingBatch] = []
        self.buffered = 0
        self.pending: list[Future[_Chunk]] = []
        self.deltas: list[pd.DataFrame] = []  # per acknowledged chunk: what it added to each meter-minute
        self.held: pd.DataFrame | None = None  # the newest rows, sorted, not yet sent
        self.lineage: list[pd.DataFrame] = []  # written once every chunk is acknowledged

    def setup(self) -> None:
        workers = max(1, self.settings.beam_write_connections)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="write-readings")

    def start_bundle(self) -> None:
        self._reset()

    def process(self, batch: ReadingBatch) -> None:
        self.buffer.append(batch)
        self.buffered += len(batch.readings)
        if self.buffered >= WRITE_CHUNK_ROWS:
            self._submit()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self.buffer or self.held is not None:
            self._submit(final=True)
        started = time.perf_counter()
        while self.pending:
            self._settle(self.pending.pop(0))
        self.waited_ms.inc(round((time.perf_counter() - started) * 1000))
        self._write_lineage()
        deltas = merge_chunk_deltas(self.deltas) if self.deltas else None
        self._reset()
        if deltas is not None:
            for facility_id, delta in minute_deltas(deltas):
                yield at_minute((facility_id, delta), delta.minute_ms)

    def teardown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    def _submit(self, *, final: bool = False) -> None:
        batches, self.buffer, self.buffered = self.buffer, [], 0
        # The frame is built here: that is Python work, which would only contend for the GIL in a writer.
        frame = readings_frame(batches)
        self.lineage.append(lineage_frame(batches, frame))
        if self.held is not None:
            frame = concat_frames([self.held, frame])
        frame = frame.sort_values("ts", kind="stable", ignore_index=True)
        # The newest rows wait for the next chunk: the next batches hold readings a few milliseconds
        # older than these (records interleave), which would make the next commit out of order.
        keep = 0 if final else min(len(frame), HELD_ROWS)
        self.held = frame.iloc[len(frame) - keep :] if keep else None
        self._send(frame.iloc[: len(frame) - keep])

    def _send(self, frame: pd.DataFrame) -> None:
        assert self.pool is not None
        if frame.empty:
            return
        while len(self.pending) >= max(1, self.settings.beam_write_connections):  # bounded: wait for the oldest
            self._settle(self.pending.pop(0))
        self.pending.append(self.pool.submit(self._write, frame))

    def _write(self, frame: pd.DataFrame) -> _Chunk:
        started = time.perf_counter()
        refusal = attempt_write(self.settings, TABLE, frame)
        return _Chunk(frame, refusal, round((time.perf_counter() - started) * 1000))

    def _write_lineage(self) -> None:
        """The bundle's records, stamped now: QuestDB has acknowledged (or refused: DLQ) every reading they brought."""
        frames = [frame for frame in self.lineage if not frame.empty]
        if not frames:
            return
        lineage = concat_frames(frames).assign(ingested_at=pd.Timestamp(datetime.now(UTC)))
        refusal = attempt_write(self.settings, LINEAGE_TABLE, lineage)
        if refusal is not None:
            dead_letter(self.settings, LINEAGE_TABLE, lineage, refusal)

    def _settle(self, future: Future[_Chunk]) -> None:
        """The chunk's outcome, in the bundle's thread: raises its failure, dead-letters a refusal, counts."""
        chunk = future.result()
        self.writer_ms.inc(chunk.ms)
        deltas = chunk_deltas(chunk.frame)
        if chunk.refusal is None:
            self.written.inc(len(chunk.frame))
        else:
            dead_letter(self.settings, TABLE, chunk.frame, chunk.refusal)
            # Refused, yet part of it may be stored (a chunk can take several requests): recompute its minutes.
            deltas["repeat"] = True
        self.deltas.append(deltas)
