"""The fields of one reading (ts, kw, kwh, seq): type and range checks that raise `Invalid` with a precise reason."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_SEQ = 2**63 - 1  # QuestDB LONG


class Invalid(Exception):
    """One violation of the contract: a stable `code` (metric label) and a precise `detail`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


def required(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise Invalid("missing_field", f"{name}: required")
    return body[name]


def type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def show(value: object, limit: int = 60) -> str:
    """A short repr for a reason: hostile input must not make reasons (or DLQ records) huge."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):
        text = f"<{type_name(value)} too deep or too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid("wrong_type", f"{name}: {type_name(value)} {show(value)}, expected a number")
    try:
        result = float(value)
    except OverflowError:
        raise Invalid("not_finite", f"{name}: integer too large for a float") from None
    if not math.isfinite(result):
        raise Invalid("not_finite", f"{name}: {result} is not a finite number")
    return result


def sequence(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("wrong_type", f"seq: {type_name(value)} {show(value)}, expected an integer")
    if not 0 <= value <= MAX_SEQ:
        raise Invalid("out_of_bounds", f"seq: {show(value)} outside [0, {MAX_SEQ}]")
    return value


def epoch_ms(value: object) -> int:
    """`ts` as epoch milliseconds: an integer, or an RFC 3339 string with an offset."""
    if isinstance(value, str):
        match = _RFC3339.fullmatch(value)
        if not match:
            raise Invalid("ts_invalid", f"ts: {show(value)} is not RFC 3339 with an offset (e.g. 2025-11-29T01:33:20Z)")
        whole, fraction, offset = match.groups()
        try:  # fromisoformat takes at most 6 fraction digits; finer ones cannot matter in ms
            parsed = datetime.fromisoformat(
                whole.upper() + (fraction or "")[:7] + offset.upper().replace("Z", "+00:00")
            )
        except ValueError as err:
            raise Invalid("ts_invalid", f"ts: {show(value)}: {err}") from None
        return (parsed - _EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Invalid(
            "wrong_type", f"ts: {type_name(value)}, expected an RFC 3339 string or integer epoch milliseconds"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("not_finite", f"ts: {value} is not a finite number")
    if isinstance(value, float) and not value.is_integer():
        raise Invalid("wrong_type", f"ts: {show(value)}: epoch milliseconds must be an integer")
    return int(value)
