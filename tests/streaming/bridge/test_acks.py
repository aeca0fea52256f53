"""The ack ledger: an MQTT message is acknowledged only after all its Kafka records, and in receive order."""

from __future__ import annotations

from streaming.bridge.acks import AckLedger


def make_ledger() -> tuple[AckLedger, list[int]]:
    acked: list[int] = []
    return AckLedger(acked.extend), acked


def test_message_is_acknowledged_only_when_sealed_and_every_record_settled() -> None:
    ledger, acked = make_ledger()
    ticket = ledger.open(1, 1, ledger.generation, 0, "t1")
    assert ticket is not None
    ledger.expect(ticket)
    ledger.expect(ticket)
    ledger.seal(ticket)
    ledger.settle(ticket)
    assert acked == []
    ledger.settle(ticket)
    assert acked == [1] and len(ledger) == 0


def test_acknowledgements_keep_receive_order() -> None:
    ledger, acked = make_ledger()
    first, second = (ledger.open(mid, 1, 0, 0, "t") for mid in (1, 2))
    assert first is not None and second is not None
    for ticket in (first, second):
        ledger.expect(ticket)
        ledger.seal(ticket)
    ledger.settle(second)  # Kafka answered the later message first
    assert acked == []
    ledger.settle(first)
    assert acked == [1, 2]


def test_qos0_messages_pass_through_without_an_acknowledgement() -> None:
    ledger, acked = make_ledger()
    ticket = ledger.open(0, 0, 0, 0, "t")
    assert ticket is not None
    ledger.seal(ticket)
    assert acked == [] and len(ledger) == 0


def test_a_new_connection_forgets_old_tickets_and_refuses_their_messages() -> None:
    ledger, acked = make_ledger()
    old = ledger.open(7, 1, 0, 0, "t")
    assert old is not None
    ledger.expect(old)
    ledger.seal(old)
    generation = ledger.new_generation()
    ledger.settle(old)  # a late Kafka answer for the lost connection
    assert acked == [] and len(ledger) == 0
    assert ledger.open(8, 1, generation - 1, 0, "t") is None
    assert ledger.open(8, 1, generation, 0, "t") is not None


def test_what_one_settle_releases_is_acknowledged_in_one_call() -> None:
    calls: list[list[int]] = []
    ledger = AckLedger(calls.append)
    tickets = [ledger.open(mid, 1, 0, 0, "t") for mid in (5, 6, 7)]
    for ticket in tickets:
        assert ticket is not None
        ledger.expect(ticket)
        ledger.seal(ticket)
    for ticket in reversed(tickets):
        assert ticket is not None
        ledger.settle(ticket)
    assert calls == [[5, 6, 7]]
