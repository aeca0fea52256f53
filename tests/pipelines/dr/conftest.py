"""Saga test wiring: the stack's PostgreSQL and BMS simulator, a local SMTP server, events made through the intake."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from apps.api.dr.intake import Delivery, accept
from apps.api.dr.payloads import parse
from pipelines.dr.notify import ManagerNotifier
from pipelines.dr.saga import Saga
from sems.bms.gateway import BmsGateway
from sems.settings import Settings
from sems.stores import postgres
from tests.pipelines.dr.utility import Utility
from tests.sems.bms.conftest import inject_fault  # noqa: F401 - the fault fixture, shared with the BMS tests


class Inbox:
    """What the SMTP server received (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.messages.append(BytesParser().parsebytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def mail(settings: Settings) -> Iterator[Inbox]:
    """A real SMTP server on a free port of the stack's host (the managers' mail server stand-in)."""
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind((settings.host, 0))
        inbox.port = int(probe.getsockname()[1])
    controller = Controller(inbox, hostname=settings.host, port=inbox.port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def utility(settings: Settings) -> Iterator[Utility]:
    """The utility's report endpoint (acknowledges every report)."""
    server = Utility(settings.host)
    yield server
    server.close()


@pytest.fixture(scope="module")
def dr_settings(settings: Settings, mail: Inbox) -> Settings:
    """Short BMS timeouts so fault drills take seconds (production keeps 10 s / 20 s, 5 s apart)."""
    return settings.model_copy(update={"smtp_port": mail.port, "bms_read_timeout_s": 1.0,
                                       "bms_retry_delay_s": 0.05, "bms_breaker_timeouts": 3})


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Iterator[Engine]:
    db = postgres.engine(settings)
    yield db
    db.dispose()


@pytest.fixture
def saga(dr_settings: Settings, engine: Engine) -> Saga:
    return Saga(dr_settings, engine, BmsGateway(dr_settings), ManagerNotifier(dr_settings, engine))


def make_event(engine: Engine, facility_ids: list[str], target_kw: float = 60.0, event_id: str | None = None,
               **extra: Any) -> str:
    """Accept an event through the webhook's intake; it starts tomorrow so the stack's sensor leaves it alone."""
    event_id = event_id or f"test-{uuid.uuid4().hex[:12]}"
    start = datetime(2030, 1, 1, tzinfo=UTC) if extra.get("status") == "cancelled" else datetime.now(UTC)
    start += timedelta(days=1)
    document = {"event_id": event_id, "facility_ids": facility_ids, "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(), "target_reduction_kw": target_kw, **extra}
    accept(engine, Delivery(f"msg_{uuid.uuid4().hex}", "demo-utility", "-", document), parse(document))
    return event_id
