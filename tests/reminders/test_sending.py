"""Many sends in flight, over connections kept open, with one VAPID token per push service.

The push service and the relay here are real servers on 127.0.0.1 that hold
every request until as many are in flight at once as the dispatcher should
keep going (a latch, with a ceiling of minutes): a dispatcher sending one
message after another never opens the latch and the test fails. Nothing here
depends on how fast the machine is.
"""

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import insert, update
from sqlmodel import Session, col

from aftercare.checkins.service import checked_in_on
from aftercare.patients.models import Patient
from aftercare.reminders.channels import Delivery, Result
from aftercare.reminders.dispatcher import Dispatcher, InAppChannel
from aftercare.reminders.email import EmailChannel
from aftercare.reminders.models import PushSubscription, Reminder
from aftercare.reminders.push import TOKEN_LIFETIME_S, WebPushChannel
from aftercare.settings import Settings
from aftercare.writer import make_writer
from tests.live import free_port, http_server
from tests.reminders.test_dispatcher import _enrol, _rows
from tests.reminders.test_push import (  # noqa: F401 - fixtures
    SUBJECT,
    Browser,
    b64url_encode,
    browser,
    keys,
    verified_claims,
)

CEILING_S = 120.0  # how long a held request waits for the others before giving up
IN_FLIGHT = 20
MESSAGES = 6 * IN_FLIGHT


@dataclass
class Latch:
    """Holds each caller until `wanted` are held at once (or CEILING_S has passed)."""

    wanted: int
    now: int = 0
    peak: int = 0
    opened: bool = False
    lock: threading.Condition = field(default_factory=threading.Condition)

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self.now >= self.wanted:
                self.opened = True
                self.lock.notify_all()
            if not self.lock.wait_for(lambda: self.opened, timeout=CEILING_S):
                # Never as many at once: stop holding anyone, the test fails on `peak`.
                self.opened = True
                self.lock.notify_all()

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


@dataclass
class HeldPushService:
    port: int
    latch: Latch
    connections: int = 0
    authorizations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def endpoint(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def held_push_service() -> Iterator[HeldPushService]:
    service = HeldPushService(port=0, latch=Latch(IN_FLIGHT))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def setup(self) -> None:
            super().setup()
            with service.lock:
                service.connections += 1

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with service.lock:
                service.authorizations.append(self.headers["Authorization"])
            service.latch.enter()
            service.latch.leave()  # before answering: a new request may follow at once
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http_server(Handler) as port:
        service.port = port
        yield service


def _test_notifications(engine, patient_id: uuid.UUID, count: int, channel: str) -> datetime:
    """`count` test notifications for one patient, due a minute ago (never merged: each
    answers a press). Returns when they are due."""
    due = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as conn:
        conn.execute(
            update(Patient)
            .where(col(Patient.id) == patient_id)
            .values(channels=["in-app", channel])
        )
        conn.execute(
            insert(Reminder),
            [
                {"patient_id": patient_id, "purpose": "test", "item_key": f"t-{n}",
                 "channel": channel, "due_at": due, "status": "pending", "attempts": 0,
                 "created_at": due}
                for n in range(count)
            ],
        )  # fmt: skip
    return due


def _settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


def test_a_dispatcher_keeps_many_pushes_in_flight_over_kept_alive_connections(
    engine, factory, settings, keys, browser, held_push_service
):
    enrolment, _ = _enrol(factory)
    patient_id = uuid.UUID(enrolment.id)
    with Session(engine) as session:
        session.add(
            PushSubscription(
                patient_id=patient_id,
                endpoint=held_push_service.endpoint("/phone"),
                p256dh=browser.p256dh,
                auth=b64url_encode(browser.auth),
            )
        )
        session.commit()
    _test_notifications(engine, patient_id, MESSAGES, "push")
    settings = _settings(settings, dispatch_concurrency=IN_FLIGHT)
    channel = WebPushChannel(
        keys.private_pem, SUBJECT, timeout=CEILING_S * 2, allow_insecure=True,
        connections=IN_FLIGHT,
    )  # fmt: skip
    dispatcher = Dispatcher(
        engine, make_writer(engine), {"push": channel}, settings, checked_in_on=checked_in_on
    )
    try:
        counts = dispatcher.sweep(datetime.now(UTC))
    finally:
        dispatcher.close()
        dispatcher.writer.close()

    assert counts.sent == MESSAGES
    assert all(row.status == "sent" for row in _rows(engine, purpose="test"))
    latch = held_push_service.latch
    assert latch.peak == IN_FLIGHT, "as many in flight as the setting says, and no more"
    assert held_push_service.connections <= IN_FLIGHT, "connections are kept and reused"
    assert len(held_push_service.authorizations) == MESSAGES, "each message once"
    assert len(set(held_push_service.authorizations)) == 1, "one VAPID token, signed once"
    claims = verified_claims(held_push_service.authorizations[0], keys.public_key)
    assert claims["aud"] == f"http://127.0.0.1:{held_push_service.port}"


def test_the_vapid_token_is_reused_until_shortly_before_it_expires(keys):
    channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
    endpoint = "https://push.example.net/send/abc"
    start = datetime(2027, 3, 26, 8, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        first = channel.authorization(endpoint)
        again = channel.authorization(endpoint + "/other")
        other_service = channel.authorization("https://updates.push.example.org/x")
    claims = verified_claims(first, keys.public_key)
    assert claims["aud"] == "https://push.example.net"
    assert claims["exp"] == int(start.timestamp()) + TOKEN_LIFETIME_S <= start.timestamp() + 86400
    assert again == first, "the same push service: the same token"
    assert verified_claims(other_service, keys.public_key)["aud"] == (
        "https://updates.push.example.org"
    )
    with time_machine.travel(start + timedelta(seconds=TOKEN_LIFETIME_S - 11 * 60), tick=False):
        assert channel.authorization(endpoint) == first, "still 11 minutes to run"
    later = start + timedelta(seconds=TOKEN_LIFETIME_S - 9 * 60)
    with time_machine.travel(later, tick=False):
        renewed = channel.authorization(endpoint)
    assert renewed != first, "signed anew 10 minutes before it expires"
    assert verified_claims(renewed, keys.public_key)["exp"] == (
        int(later.timestamp()) + TOKEN_LIFETIME_S
    )
    channel.close()


class HeldRelay:
    """An SMTP relay that holds each message until `wanted` are being handed over at once."""

    def __init__(self, wanted: int) -> None:
        self.latch = Latch(wanted)
        self.sessions: set[int] = set()
        self.recipients: list[str] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        self.sessions.add(id(session))
        self.recipients.extend(envelope.rcpt_tos)
        assert envelope.original_content is not None
        assert message_from_bytes(envelope.original_content)["Subject"] == "Care"
        # The latch blocks: wait for it in a thread, as a slow relay would, and let
        # the relay's event loop go on talking to the other connections.
        await asyncio.get_running_loop().run_in_executor(None, self.latch.enter)
        self.latch.leave()
        return "250 OK"


def test_e_mail_goes_over_a_few_connections_kept_open_all_busy_at_once(engine, factory, settings):
    enrolment, _ = _enrol(factory, channels=("in-app",))
    patient_id = uuid.UUID(enrolment.id)
    with engine.begin() as conn:
        conn.execute(
            update(Patient).where(col(Patient.id) == patient_id).values(email="p@example.org")
        )
    _test_notifications(engine, patient_id, 30, "email")
    relay = HeldRelay(wanted=3)
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    channel = EmailChannel(
        f"smtp://127.0.0.1:{port}", "reminders@clinic.example", timeout=CEILING_S * 2,
        connections=3,
    )  # fmt: skip
    dispatcher = Dispatcher(
        engine, make_writer(engine), {"email": channel, "in-app": InAppChannel()},
        _settings(settings, dispatch_concurrency=IN_FLIGHT),
        checked_in_on=checked_in_on,
    )  # fmt: skip
    try:
        counts = dispatcher.sweep(datetime.now(UTC))
    finally:
        dispatcher.close()
        dispatcher.writer.close()
        controller.stop()
    assert counts.sent == 30
    assert relay.recipients == ["p@example.org"] * 30, "each once"
    assert relay.latch.peak == 3, "three connections busy at once, never more"
    assert len(relay.sessions) == 3, "thirty messages over three connections"


def test_closing_the_dispatcher_waits_for_the_batch_being_sent(engine, factory, settings):
    """A worker stopped mid-batch lets the batch finish and mark its rows."""
    enrolment, _ = _enrol(factory)
    patient_id = uuid.UUID(enrolment.id)
    _test_notifications(engine, patient_id, 5, "push")
    started = threading.Event()
    release = threading.Event()

    class Slow:
        name = "push"

        def send(self, delivery: Delivery) -> Result:
            started.set()
            release.wait(CEILING_S)
            return Result("sent")

    dispatcher = Dispatcher(
        engine, make_writer(engine), {"push": Slow()}, settings, checked_in_on=checked_in_on
    )
    sweeping = threading.Thread(target=dispatcher.sweep, args=(datetime.now(UTC),))
    sweeping.start()
    assert started.wait(CEILING_S)
    closing = threading.Thread(target=dispatcher.close)
    closing.start()
    closing.join(0.5)
    assert closing.is_alive(), "close waits while a batch is being sent"
    release.set()
    closing.join(CEILING_S)
    sweeping.join(CEILING_S)
    assert not closing.is_alive() and not sweeping.is_alive()
    dispatcher.writer.close()
    assert {row.status for row in _rows(engine, purpose="test")} == {"sent"}


def test_a_dispatcher_never_starts_more_sends_than_its_setting(engine, factory, settings):
    """With a plain blocking channel the sends run in the loop's threads, at most as many."""
    enrolment, _ = _enrol(factory)
    _test_notifications(engine, uuid.UUID(enrolment.id), 40, "push")
    latch = Latch(wanted=4)

    class Blocking:
        name = "push"

        def send(self, delivery: Delivery) -> Result:
            latch.enter()
            time.sleep(0)
            latch.leave()
            return Result("sent")

    dispatcher = Dispatcher(
        engine, make_writer(engine), {"push": Blocking()},
        _settings(settings, dispatch_concurrency=4),
        checked_in_on=checked_in_on,
    )  # fmt: skip
    try:
        assert dispatcher.sweep(datetime.now(UTC)).sent == 40
    finally:
        dispatcher.close()
        dispatcher.writer.close()
    assert latch.peak == 4
