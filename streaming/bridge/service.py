"""The bridge at work: receive MQTT messages, validate them, hand them to Kafka, acknowledge them.

paho's network thread only queues what arrives; the main loop validates (`Contract`),
sends DLQ entries and gateway batches at once, merges single readings per facility for
`bridge_linger_ms`, and sends those. Acknowledgements flow back through the `AckLedger`.
The MQTT session is persistent (fixed client id, clean_start False, session expiry), so
the broker keeps queueing for the bridge while it is away. While Kafka is away the sink
spools to disk; above 80 % spool fill the loop stops taking messages, so they stay
unacknowledged at the broker: backpressure. The broker should send at most
`bridge_receive_maximum` unacknowledged messages; as Mosquitto 2.0.11 overshoots that, paho's
thread also stops reading while the inbox holds twice as many.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from kafka import KafkaProducer
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from sems import logs
from sems.mqtt import bridge_client
from sems.resilience import BreakerState
from sems.settings import Settings
from streaming.bridge import metrics, paho_speedups
from streaming.bridge.acks import AckLedger, Ticket
from streaming.bridge.coalescer import Coalescer, FacilityBatch
from streaming.bridge.inbound import Inbound, message_topic, trace_id_of
from streaming.bridge.kafka_sink import KafkaSink
from streaming.bridge.records import dlq_record, readings_record
from streaming.bridge.spool import Spool
from streaming.contract import Contract, Rejection

log = logging.getLogger(__name__)

# Mosquitto 2.0.11 overshoots the bridge's Receive Maximum once acknowledgements flow (measured: a
# 10-message maximum let 90 through), so the inbox is bounded here too: paho stops reading beyond this.
MAX_INBOX_RECEIVE_MAXIMUMS = 2
DRAIN_FRAMES_PER_CYCLE = 50  # spool frames sent per loop turn: catches up fast, still serves MQTT between
LIVENESS_S = 30.0  # the main loop must turn at least this often to count as alive


class Bridge:
    """One bridge process: an MQTT subscription in, Kafka records out."""

    def __init__(self, settings: Settings, make_producer: Callable[[], KafkaProducer]) -> None:
        self.settings = settings
        self.contract = Contract.from_settings(settings)
        self.client = bridge_client(settings, settings.bridge_client_id)
        self.client.manual_ack_set(True)
        self.client.on_connect, self.client.on_disconnect = self._on_connect, self._on_disconnect
        self.client.on_message = self._on_message
        paho_speedups.deliver_publishes(self.client, self._on_publish)
        self.ledger = AckLedger(lambda mids: paho_speedups.send_pubacks(self.client, mids))
        spool_dir = settings.bridge_spool_dir or settings.state / "bridge-spool"
        self.spool = Spool(spool_dir, settings.bridge_spool_max_bytes, settings.bridge_spool_segment_bytes)
        self.sink = KafkaSink(settings, make_producer, self.ledger, self.spool)
        self.heartbeat = time.monotonic()
        self.coalescer = Coalescer(max_readings=settings.bridge_max_batch_readings)
        # SimpleQueue (C): a put costs a fraction of queue.Queue's lock and Condition, at one per message.
        self.inbox: queue.SimpleQueue[Inbound] = queue.SimpleQueue()
        max_inbox = MAX_INBOX_RECEIVE_MAXIMUMS * settings.bridge_receive_maximum
        paho_speedups.pause_reading_while(self.client, lambda: self.inbox.qsize() >= max_inbox)
        self.mqtt_connected = threading.Event()

    def health(self) -> tuple[bool, str]:
        """Liveness: the main loop turns (a Kafka outage is not a reason to restart the bridge)."""
        stalled_s = time.monotonic() - self.heartbeat
        if stalled_s > LIVENESS_S:
            return False, f"main loop stalled for {stalled_s:.0f}s"
        return True, f"alive; spool {self.spool.fill:.1%} full, breaker {self.sink.breaker.state.name.lower()}"

    def ready(self) -> tuple[bool, str]:
        """Readiness: MQTT connected, Kafka reachable with the breaker closed, spool below 80 %."""
        links = (("mqtt", self.mqtt_connected), ("kafka", self.sink.reachable))
        problems = [f"{name} unreachable" for name, ok in links if not ok.is_set()]
        if self.sink.breaker.state is not BreakerState.CLOSED:
            problems.append(f"kafka breaker {self.sink.breaker.state.name.lower()}")
        if self.spool.above_high_water:
            problems.append(f"spool {self.spool.fill:.0%} full")
        if problems:
            return False, "; ".join(problems)
        return True, "mqtt connected, kafka reachable"

    def run(self, stop: threading.Event) -> None:
        """Bridge until `stop` is set, then publish or spool what is buffered, acknowledge it and disconnect."""
        self.sink.start()
        self._connect()
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            if self.spool.above_high_water:  # backpressure: leave new messages unacknowledged at the broker
                metrics.BACKPRESSURE.set(1)
                if not self.sink.drain(DRAIN_FRAMES_PER_CYCLE):
                    stop.wait(0.2)
                continue
            metrics.BACKPRESSURE.set(0)
            self._pump(timeout_s=0.2)
            self.sink.dispatch()
            self.sink.drain(DRAIN_FRAMES_PER_CYCLE)
        self._drain_inbox()
        self.client.disconnect()  # queued PUBACKs go out before the DISCONNECT
        self.client.loop_stop()
        self.sink.close(self.settings.kafka_timeout_s)

    def _drain_inbox(self) -> None:
        """On SIGTERM: handle what paho already queued, publish or spool it, so its acks go out."""
        while not self.inbox.empty():  # only this thread takes from the inbox
            self._handle(self.inbox.get_nowait())
            metrics.MESSAGES_RECEIVED.inc()
        self._flush()
        self.sink.dispatch()

    def _connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.settings.bridge_session_expiry_s
        props.ReceiveMaximum = self.settings.bridge_receive_maximum
        self.client.connect_async(
            self.settings.host, self.settings.mqtt_port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()

    # paho's network thread: keep it quick.
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused the bridge: %s", reason)
            return
        client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in self.contract.subscriptions()])
        self.mqtt_connected.set()
        metrics.MQTT_CONNECTED.set(1)
        log.info("connected to MQTT", extra={"fields": {"subscriptions": self.contract.subscriptions()}})

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        self.ledger.new_generation()
        self._drop_inbox()  # the broker redelivers those; dropped now, they no longer pause reading
        metrics.PENDING_ACKS.set(0)
        self.mqtt_connected.clear()
        metrics.MQTT_CONNECTED.set(0)
        log.warning("disconnected from MQTT: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(Inbound(message, self.ledger.generation, int(time.time() * 1000)))

    def _on_publish(self, message: paho_speedups.Publish) -> None:  # most messages come this way
        self.inbox.put(Inbound(message, self.ledger.generation, int(time.time() * 1000)))

    def _drop_inbox(self) -> None:
        dropped = 0
        try:
            while True:
                self.inbox.get_nowait()
                dropped += 1
        except queue.Empty:
            metrics.STALE_MESSAGES.inc(dropped)

    # The main loop.
    def _pump(self, timeout_s: float) -> None:
        """Handle what arrives within `timeout_s`, then `linger` more, then send the merged readings.

        A turn also takes whatever is already queued, linger or not, up to
        `bridge_max_turn_messages` messages or `bridge_max_turn_bytes` of payload: under load the
        turns grow, so one Kafka round trip settles hundreds of messages instead of the few that
        arrive in a linger (adaptive batching, no added latency when idle), while the byte cap
        keeps one cycle's records (and so one spool frame) small enough to publish in time.
        """
        try:
            inbound = self.inbox.get(timeout=timeout_s)
        except queue.Empty:
            return
        handled, payload_bytes = 0, 0
        max_messages, max_bytes = self.settings.bridge_max_turn_messages, self.settings.bridge_max_turn_bytes
        deadline = time.monotonic() + self.settings.bridge_linger_ms / 1000
        while True:
            self._handle(inbound)
            handled, payload_bytes = handled + 1, payload_bytes + len(inbound.message.payload)
            if handled >= max_messages or payload_bytes >= max_bytes:
                break
            try:
                left = deadline - time.monotonic()
                inbound = self.inbox.get(timeout=left) if left > 0 else self.inbox.get_nowait()
            except queue.Empty:
                break
        # Metrics once per turn, not per message: at 15,000 messages/s their locks add up.
        metrics.MESSAGES_RECEIVED.inc(handled)
        metrics.PENDING_ACKS.set(len(self.ledger))
        metrics.INBOX.set(self.inbox.qsize())
        metrics.TURN_MESSAGES.observe(handled)
        self._flush()

    def _handle(self, inbound: Inbound) -> None:
        message = inbound.message
        trace_id = trace_id_of(message)
        ticket = self.ledger.open(message.mid, message.qos, inbound.generation, inbound.received_at_ms, trace_id)
        if ticket is None:
            metrics.STALE_MESSAGES.inc()
            return
        topic, payload = message_topic(message), bytes(message.payload)
        try:
            self._dispatch(ticket, topic, payload)
        except Exception as exc:  # a bug of ours must not lose the message or stop the bridge
            with logs.trace_context(trace_id):
                log.exception("bridge failed on a message; sending it to the DLQ")
            self._reject(ticket, Rejection("bridge_error", repr(exc)[:300], topic, payload, None))
        self.ledger.seal(ticket)

    def _dispatch(self, ticket: Ticket, topic: str, payload: bytes) -> None:
        parsed = self.contract.parse(topic, payload, now_ms=ticket.received_at_ms)
        for rejection in parsed.rejections:
            self._reject(ticket, rejection)
        if parsed.readings is None:
            return
        self.ledger.expect(ticket)
        if parsed.batch:  # a gateway batch is one record of its own
            self._send(FacilityBatch(parsed.readings, [ticket], [len(parsed.readings)]))
        elif full := self.coalescer.add(ticket, parsed.readings):
            self._send(full)

    def _reject(self, ticket: Ticket, rejection: Rejection) -> None:
        metrics.READINGS_INVALID.labels(rejection.code).inc()
        # The trace id is set only where a line is logged: a context per message cost more than the logging.
        fields = {"topic": rejection.topic[:200], "reason": rejection.reason}
        with logs.trace_context(ticket.trace_id):
            log.warning("rejected to DLQ", extra={"fields": fields})
        self.ledger.expect(ticket)
        record = dlq_record(self.settings.kafka_readings_dlq_topic, rejection, ticket.trace_id, ticket.received_at_ms)
        self.sink.send(record, [ticket])

    def _flush(self) -> None:
        for batch in self.coalescer.drain():
            self._send(batch)

    def _send(self, batch: FacilityBatch) -> None:
        record = readings_record(
            self.settings.kafka_readings_topic, batch.readings, batch.trace_ids, batch.received_at_ms, batch.counts
        )
        self.sink.send(record, batch.tickets, readings=len(batch.readings))
