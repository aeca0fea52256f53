"""Two speed-ups of paho-mqtt 2.x's MQTT 5 `Properties`, applied by the bridge at start.

Profiled in single-reading mode (one MQTT message per reading), a third of the bridge's CPU
was `Properties.__init__`: paho builds three lookup tables (about 60 entries) afresh for
every packet it decodes, though they never change. And `clear()`, called on every decode,
probes all 27 property names with `hasattr`. Here the tables are built once and shared (no
method mutates them), and `clear` deletes only the properties actually set. Behaviour is
unchanged: tests/streaming/bridge/test_paho_speedups.py compares packed and unpacked
properties with and without the patch.
"""

from __future__ import annotations

from typing import Any

from paho.mqtt import properties as paho_properties
from paho.mqtt.packettypes import PacketTypes

_TABLES = ("types", "names", "properties")
ORIGINAL_INIT = paho_properties.Properties.__init__  # kept for the equivalence test


def apply() -> None:
    """Patch `paho.mqtt.properties.Properties` (idempotent)."""
    cls = paho_properties.Properties
    if getattr(cls, "_sems_shared_tables", None) is not None:
        return
    prototype = cls(PacketTypes.PUBLISH)
    shared = {name: getattr(prototype, name) for name in _TABLES}

    def __init__(self: Any, packetType: int) -> None:  # noqa: N802, N803 - paho's names
        object.__setattr__(self, "packetType", packetType)
        for name, table in shared.items():
            object.__setattr__(self, name, table)

    def clear(self: Any) -> None:
        for name in [n for n in vars(self) if n not in ("packetType", *_TABLES)]:
            delattr(self, name)

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls.clear = clear  # type: ignore[method-assign]
    cls._sems_shared_tables = shared  # type: ignore[attr-defined]
