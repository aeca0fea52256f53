"""The contract's fast path: a message decoded by msgspec into typed structs and checked column-wise.

It only ever *accepts*: it returns the readings when the whole message is certainly valid
(types checked by msgspec in C, bounds by min/max over each column) and None otherwise,
and then `Contract.parse_slowly` decides reading by reading, with the reasons. So the two
paths cannot disagree on what is valid, only on how fast they say so.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated

import msgspec

from sems.readings import ReadingColumns
from streaming.reading_fields import MAX_SEQ, Invalid, epoch_ms

if TYPE_CHECKING:
    from streaming.contract import Contract

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
ID = re.compile(ID_PATTERN)
_Seq = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]


# An identity field may be absent (UNSET) but not null: the slow path rejects a null one as a mismatch.
_Name = str | msgspec.UnsetType


class _Item(msgspec.Struct):
    meter_id: str  # its pattern is checked against `_METER_IDS` after decoding, not by msgspec (see there)
    ts: int | str
    kw: float
    kwh: float | None = None
    seq: _Seq | None = None
    facility_id: _Name = msgspec.UNSET


class _Batch(msgspec.Struct):
    readings: list[_Item]
    facility_id: _Name = msgspec.UNSET


class _Single(msgspec.Struct):
    ts: int | str
    kw: float
    kwh: float | None = None
    seq: _Seq | None = None
    meter_id: _Name = msgspec.UNSET
    facility_id: _Name = msgspec.UNSET


_BATCH = msgspec.json.Decoder(_Batch)
_SINGLE = msgspec.json.Decoder(_Single)
# Accepted routes by (prefix, topic): in single-reading mode every message has a topic seen before (one
# per meter), and two identifier regexes per message were a tenth of the contract's time.
_ROUTES: dict[tuple[str, str], tuple[str, str, str | None]] = {}
MAX_CACHED_ROUTES = 100_000
# Meter ids of batches that matched ID_PATTERN. A gateway sends the same meters in every batch, and a
# pattern in the msgspec type ran `re` once per reading: ~1 us, half of the batch's decoding.
_METER_IDS: set[str] = set()
MAX_CACHED_METER_IDS = 1_000_000


def fast_parse(contract: Contract, topic: str, payload: bytes, now_ms: int) -> tuple[str, ReadingColumns, bool] | None:
    """(facility_id, readings, is_batch) when the message is certainly valid, else None (ask the slow path)."""
    if len(payload) > contract.max_payload_bytes:
        return None
    try:
        kind, facility_id, meter_id = _route(contract, topic)
        if kind == "batch":
            return facility_id, _batch(contract, facility_id, payload, now_ms), True
        return facility_id, _single(contract, facility_id, str(meter_id), payload, now_ms), False
    except (Invalid, msgspec.DecodeError, TypeError, ValueError):
        return None


def _route(contract: Contract, topic: str) -> tuple[str, str, str | None]:
    key = (contract.prefix, topic)
    route = _ROUTES.get(key)
    if route is None:
        route = contract.route(topic)  # raises for a bad topic: those are not cached
        if len(_ROUTES) >= MAX_CACHED_ROUTES:
            _ROUTES.clear()
        _ROUTES[key] = route
    return route


def _batch(contract: Contract, facility_id: str, payload: bytes, now_ms: int) -> ReadingColumns:
    body = _BATCH.decode(payload)
    items = body.readings
    if not 0 < len(items) <= contract.max_batch_readings:
        raise ValueError("batch size")
    allowed = {msgspec.UNSET, facility_id}
    if body.facility_id not in allowed or {i.facility_id for i in items} - allowed:
        raise ValueError("facility")
    meter_ids = [i.meter_id for i in items]
    _check_meter_ids(meter_ids)
    columns = ReadingColumns(
        facility_id, meter_ids, _timestamps([i.ts for i in items]), [i.kw for i in items],
        [i.kwh for i in items], [i.seq for i in items],
    )
    _check(contract, columns, now_ms)
    return columns


def _single(contract: Contract, facility_id: str, meter_id: str, payload: bytes, now_ms: int) -> ReadingColumns:
    body = _SINGLE.decode(payload)
    if body.facility_id not in (msgspec.UNSET, facility_id) or body.meter_id not in (msgspec.UNSET, meter_id):
        raise ValueError("identity")
    columns = ReadingColumns(facility_id, [meter_id], _timestamps([body.ts]), [body.kw], [body.kwh], [body.seq])
    _check(contract, columns, now_ms)
    return columns


_INT = {int}


def _check_meter_ids(meter_ids: list[str]) -> None:
    """Raises unless every id matches ID_PATTERN; ids seen valid before cost a set lookup."""
    if _METER_IDS.issuperset(meter_ids):
        return
    if not all(ID.fullmatch(m) for m in meter_ids):
        raise ValueError("meter_id")
    if len(_METER_IDS) + len(meter_ids) > MAX_CACHED_METER_IDS:
        _METER_IDS.clear()
    _METER_IDS.update(meter_ids)


def _timestamps(values: list[int | str]) -> list[int]:
    if set(map(type, values)) == _INT:  # in C: twice as fast as all(type(v) is int ...); a bool is no int here
        return values  # type: ignore[return-value]
    return [v if type(v) is int else epoch_ms(v) for v in values]


def _check(contract: Contract, columns: ReadingColumns, now_ms: int) -> None:
    """Raises when any value is out of bounds (the slow path then names it)."""
    if min(columns.ts_ms) < now_ms - contract.max_age_ms or max(columns.ts_ms) > now_ms + contract.max_future_ms:
        raise ValueError("ts")
    if min(columns.kw) < contract.kw_min or max(columns.kw) > contract.kw_max:  # also refuses +-inf
        raise ValueError("kw")
    kwh = [v for v in columns.kwh if v is not None]
    if kwh and (min(kwh) < 0 or not math.isfinite(max(kwh))):
        raise ValueError("kwh")
