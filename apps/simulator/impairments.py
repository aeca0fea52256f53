"""The field's imperfections, as knobs: duplicates, out-of-order and late readings, malformed payloads, clock skew.

Every knob is a `SEMS_SIMULATOR_*` setting; all default to zero, i.e. clean readings, in
order, on time. The decisions are random (seeded by `simulator_seed` for reproducible
runs) except the clock skew, which is fixed per meter as a real device's clock error is.

- duplicate: the reading is sent twice (same `seq`, same payload), as after a lost PUBACK.
- out of order: the reading is held back one round, so the next one of its meter overtakes it.
- late: held back a random `(interval, late_max_s]`, the way a gateway buffers through an outage.
- malformed: besides the real message, a broken one goes out on the same topic (the reading
  itself is not lost, so runs stay reconcilable); the bridge must send it to the DLQ.
- clock skew: each meter's timestamps are off by a fixed amount within `+-clock_skew_max_s`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

from sems.settings import Settings

# Broken payloads of the kinds real devices send: truncated JSON, a number as text, no timestamp, absurd power.
MALFORMED = (
    b'{"ts": 17644113000',
    b'{"ts": %d, "kw": "forty-two", "seq": 1}',
    b'{"kw": 42.0, "seq": 1}',
    b'{"ts": %d, "kw": 1e12, "seq": 1}',
)


@dataclass(frozen=True)
class Impairments:
    """The knobs of one run and the random source behind them."""

    duplicate_rate: float = 0.0
    out_of_order_rate: float = 0.0
    late_rate: float = 0.0
    late_max_s: float = 600.0
    malformed_rate: float = 0.0
    clock_skew_max_s: float = 0.0
    interval_s: float = 15.0
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, settings: Settings) -> Impairments:
        return cls(
            duplicate_rate=settings.simulator_duplicate_rate,
            out_of_order_rate=settings.simulator_out_of_order_rate,
            late_rate=settings.simulator_late_rate,
            late_max_s=settings.simulator_late_max_s,
            malformed_rate=settings.simulator_malformed_rate,
            clock_skew_max_s=settings.simulator_clock_skew_max_s,
            interval_s=settings.simulator_interval_s,
            rng=random.Random(settings.simulator_seed),
        )

    def copies(self) -> int:
        """How often to send a reading: 2 for a duplicate."""
        return 2 if self.rng.random() < self.duplicate_rate else 1

    def delay_s(self) -> float:
        """How long to hold a reading back: 0 (on time), one round (out of order) or up to `late_max_s` (late)."""
        draw = self.rng.random()
        if draw < self.late_rate:
            return self.rng.uniform(self.interval_s, max(self.interval_s, self.late_max_s))
        if draw < self.late_rate + self.out_of_order_rate:
            return self.interval_s
        return 0.0

    def malformed(self, ts_ms: int) -> bytes | None:
        """A broken payload to send besides the real one, or None."""
        if self.rng.random() >= self.malformed_rate:
            return None
        template = self.rng.choice(MALFORMED)
        return template % ts_ms if b"%d" in template else template

    def skew_ms(self, meter_id: str) -> int:
        """The meter's fixed clock error: stable across restarts, spread over +-clock_skew_max_s."""
        if not self.clock_skew_max_s:
            return 0
        unit = (zlib.crc32(meter_id.encode()) % 20_001) / 10_000 - 1  # -1..1
        return round(unit * self.clock_skew_max_s * 1000)
