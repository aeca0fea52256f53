"""A simulated meter's register: cumulative kWh integrated from its power, and a sequence number per reading."""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass
class MeterRegister:
    """What a meter remembers between readings; `read` produces the next reading in the MQTT contract."""

    meter_id: str
    kwh: float
    seq: int = 0
    last_ts_ms: int | None = None
    last_kw: float | None = None

    @classmethod
    def fresh(cls, meter_id: str) -> MeterRegister:
        """A register with a stable, plausible starting value (meters are not new)."""
        return cls(meter_id=meter_id, kwh=float(10_000 + zlib.crc32(meter_id.encode()) % 90_000))

    def read(self, ts_ms: int, kw: float) -> dict[str, float | int]:
        """Advance the register to `ts_ms` (trapezoid over the interval) and return the payload."""
        if self.last_ts_ms is not None and self.last_kw is not None and ts_ms > self.last_ts_ms:
            hours = (ts_ms - self.last_ts_ms) / 3_600_000
            self.kwh += (self.last_kw + kw) / 2 * hours
        self.seq += 1
        self.last_ts_ms, self.last_kw = ts_ms, kw
        return {"ts": ts_ms, "kw": round(kw, 3), "kwh": round(self.kwh, 3), "seq": self.seq}
