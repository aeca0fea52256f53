"""Acknowledging MQTT messages only once Kafka has everything made from them, in the order they arrived.

Each MQTT message gets a `Ticket`. Every Kafka record made from it (readings, DLQ entries)
is `expect`ed on the ticket and `settle`d when Kafka acknowledged it; once the message is
fully dispatched it is `seal`ed. The ledger sends PUBACKs for settled messages from the
oldest on, so acknowledgements keep the broker's order (MQTT requires it for QoS 1) and a
message whose record is still in flight holds back the ones behind it. What one settle or
seal releases is acknowledged in one call: a Kafka round trip releases hundreds of messages,
and their PUBACKs go out as one socket write.

A connection loss starts a new generation: the broker will redeliver everything that was
not acknowledged, so tickets of the old connection are dropped and never acknowledged.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Ack = Callable[[list[int]], object]  # mids of QoS 1 messages, in receive order -> sends their PUBACKs


@dataclass(eq=False, slots=True)
class Ticket:
    mid: int
    qos: int
    generation: int
    received_at_ms: int
    trace_id: str
    expected: int = 0
    settled: int = 0
    sealed: bool = False

    @property
    def done(self) -> bool:
        return self.sealed and self.settled >= self.expected


class AckLedger:
    """MQTT messages waiting for Kafka, in receive order; thread-safe (Kafka callbacks settle tickets)."""

    def __init__(self, ack: Ack) -> None:
        self._ack = ack
        self._lock = threading.Lock()
        self._waiting: deque[Ticket] = deque()
        self.generation = 0

    def open(self, mid: int, qos: int, generation: int, received_at_ms: int, trace_id: str) -> Ticket | None:
        """A ticket for a message received on connection `generation`; None if that connection is gone."""
        with self._lock:
            if generation != self.generation:
                return None
            ticket = Ticket(mid, qos, generation, received_at_ms, trace_id)
            self._waiting.append(ticket)
            return ticket

    def expect(self, ticket: Ticket) -> None:
        with self._lock:
            ticket.expected += 1

    def settle(self, ticket: Ticket) -> None:
        self.settle_all([ticket])

    def settle_all(self, tickets: Iterable[Ticket]) -> None:
        """Settle one record each of `tickets`, then acknowledge what that released (one PUBACK write)."""
        with self._lock:
            for ticket in tickets:
                ticket.settled += 1
            self._release()

    def seal(self, ticket: Ticket) -> None:
        with self._lock:
            ticket.sealed = True
            self._release()

    def new_generation(self) -> int:
        """The connection changed: forget every waiting ticket (the broker redelivers those messages)."""
        with self._lock:
            self.generation += 1
            self._waiting.clear()
            return self.generation

    def __len__(self) -> int:
        return len(self._waiting)

    def _release(self) -> None:
        mids = []
        while self._waiting and self._waiting[0].done:
            ticket = self._waiting.popleft()
            if ticket.qos > 0:  # the bridge subscribes with QoS 1: nothing arrives as QoS 2
                mids.append(ticket.mid)
        if mids:
            self._ack(mids)
