"""The e-mail channel against a real SMTP server (aiosmtpd) on a free local port."""

import email
import email.policy
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from aftercare.reminders.channels import Delivery, Message, Result
from aftercare.reminders.email import EmailChannel
from tests.live import Tls, private_tls

MAIL_FROM = "Aftercare <reminders@care.example>"
PATIENT = "patient@example.org"
NEUTRAL = Message(
    title="You have a new reminder",
    body="Open the app to see it.",
    url="https://care.example/today",
    tag="r1",
)
REVEALING = ("hymen", "labia", "vagin", "surgery", "operation", "clinic name")


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    over_starttls: bool


class Recorder:
    """Accepts every message and keeps its envelope."""

    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.mail_from is not None and envelope.original_content is not None
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                over_starttls=session.ssl is not None,
            )
        )
        return "250 OK"


class RefuseRecipient(Recorder):
    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return self.reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


StartServer = Callable[..., int]


@pytest.fixture
def start_smtp() -> Iterator[StartServer]:
    """Start an aiosmtpd server on 127.0.0.1 with a handler; returns its port."""
    controllers: list[Controller] = []

    def start(handler: object, **smtp_options: Any) -> int:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_options)
        controller.start()
        controllers.append(controller)
        return controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def recorder(start_smtp: StartServer) -> tuple[Recorder, int]:
    handler = Recorder()
    return handler, start_smtp(handler)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return private_tls(tmp_path_factory.mktemp("tls"))


def deliver(url: str, email_address: str | None = PATIENT, **options: Any) -> Result:
    channel = EmailChannel(url, MAIL_FROM, **options)
    return channel.send(Delivery(reminder_id=1, message=NEUTRAL, email=email_address))


def test_accepted_message_is_sent_plain_neutral_and_addressed(
    recorder: tuple[Recorder, int],
) -> None:
    handler, port = recorder

    result = deliver(f"smtp://127.0.0.1:{port}")

    assert result.outcome == "sent" and result.error is None
    [received] = handler.received
    assert received.mail_from == "reminders@care.example"
    assert received.rcpt_tos == [PATIENT]
    parsed = email.message_from_bytes(received.content, policy=email.policy.default)
    assert parsed["Subject"] == "You have a new reminder"
    assert parsed["From"] == MAIL_FROM
    assert parsed["To"] == PATIENT
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Message-ID"].endswith("@care.example>")
    assert parsed["Date"] is not None
    assert not parsed.is_multipart()
    assert parsed.get_content_type() == "text/plain"
    body = parsed.get_content()
    assert "Open the app to see it." in body
    assert "https://care.example/today" in body
    # Only these headers: no List-*, no tracking, nothing taken from the plan.
    assert {name.lower() for name in parsed.keys()} == {  # noqa: SIM118
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "auto-submitted",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
    raw = received.content.lower()
    for word in REVEALING:
        assert word.encode() not in raw, word


def test_non_ascii_title_and_body_arrive_intact(recorder: tuple[Recorder, int]) -> None:
    handler, port = recorder
    message = Message(
        title="لديك تذكير جديد", body="Yeni bir hatırlatıcınız var.", url="u", tag="t"
    )

    channel = EmailChannel(f"smtp://127.0.0.1:{port}", MAIL_FROM)
    result = channel.send(Delivery(reminder_id=2, message=message, email=PATIENT))

    assert result.outcome == "sent"
    parsed = email.message_from_bytes(handler.received[0].content, policy=email.policy.default)
    assert parsed["Subject"] == "لديك تذكير جديد"
    assert "Yeni bir hatırlatıcınız var." in parsed.get_content()


@pytest.mark.parametrize(
    ("title", "address"),
    [
        ("Care\r\nBcc: someone@example.net", PATIENT),
        ("Care", "patient@example.org\nBcc: someone@example.net"),
    ],
)
def test_a_line_break_in_a_header_fails_and_nothing_is_sent(
    recorder: tuple[Recorder, int], title: str, address: str
) -> None:
    handler, port = recorder
    message = Message(title=title, body="b", url="u", tag="t")
    channel = EmailChannel(f"smtp://127.0.0.1:{port}", MAIL_FROM)
    result = channel.send(Delivery(reminder_id=3, message=message, email=address))
    assert result == Result("failed", error="cannot build the message (invalid address or title)")
    assert handler.received == []


@pytest.mark.parametrize("address", [None, ""])
def test_no_address_fails_without_connecting(
    recorder: tuple[Recorder, int], address: str | None
) -> None:
    handler, port = recorder

    result = deliver(f"smtp://127.0.0.1:{port}", email_address=address)

    assert (result.outcome, result.error) == ("failed", "no e-mail address")
    assert handler.received == []


def test_recipient_refused_permanently_fails(start_smtp: StartServer) -> None:
    handler = RefuseRecipient("550 no such user")
    port = start_smtp(handler)

    result = deliver(f"smtp://127.0.0.1:{port}")

    assert result.outcome == "failed"
    assert "550" in str(result.error) and "no such user" in str(result.error)
    assert handler.received == []


def test_recipient_refused_for_now_is_retried(start_smtp: StartServer) -> None:
    port = start_smtp(RefuseRecipient("451 try later"))

    result = deliver(f"smtp://127.0.0.1:{port}")

    assert result.outcome == "retry"
    assert "451" in str(result.error)


def test_address_echoed_by_the_server_is_kept_out_of_error_and_logs(
    start_smtp: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    port = start_smtp(RefuseRecipient(f"550 5.1.1 <{PATIENT}>: no such user"))
    caplog.set_level(logging.DEBUG, logger="aftercare")

    result = deliver(f"smtp://127.0.0.1:{port}")

    assert result.outcome == "failed"
    assert result.error and PATIENT not in result.error
    assert caplog.records, "the failure is logged"
    assert all(PATIENT not in record.getMessage() for record in caplog.records)


def test_connection_refused_is_retried() -> None:
    result = deliver(f"smtp://127.0.0.1:{free_port()}")

    assert result.outcome == "retry"
    assert "ConnectionRefused" in str(result.error)


def test_silent_server_times_out_and_is_retried() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the TCP handshake, never greets
        port = silent.getsockname()[1]

        result = deliver(f"smtp://127.0.0.1:{port}", timeout=0.3)

    assert result.outcome == "retry"
    assert "timed out" in str(result.error)


def test_server_hanging_up_is_retried() -> None:
    with socket.socket() as rude:
        rude.bind(("127.0.0.1", 0))
        rude.listen()
        port = rude.getsockname()[1]

        def hang_up() -> None:
            connection, _ = rude.accept()
            connection.close()

        thread = threading.Thread(target=hang_up)
        thread.start()
        # Generous: the client must see the hang-up, however late the thread gets to it.
        result = deliver(f"smtp://127.0.0.1:{port}", timeout=120)
        thread.join()

    assert result.outcome == "retry"
    assert "disconnected" in str(result.error)


class Logins:
    def __init__(self) -> None:
        self.seen: list[tuple[bytes, bytes]] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.seen.append((data.login, data.password))
        if (data.login, data.password) == (b"user", b"p@ss"):
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def auth_server(start_smtp: StartServer) -> tuple[Recorder, Logins, int]:
    handler, logins = Recorder(), Logins()
    port = start_smtp(handler, authenticator=logins, auth_require_tls=False, auth_required=True)
    return handler, logins, port


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_logs_in_with_the_percent_decoded_password(
    auth_server: tuple[Recorder, Logins, int],
) -> None:
    handler, logins, port = auth_server

    result = deliver(f"smtp://user:p%40ss@127.0.0.1:{port}")

    assert result.outcome == "sent"
    assert logins.seen == [(b"user", b"p@ss")]
    assert len(handler.received) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_wrong_password_fails(auth_server: tuple[Recorder, Logins, int]) -> None:
    handler, _, port = auth_server

    result = deliver(f"smtp://user:wrong@127.0.0.1:{port}")

    assert result.outcome == "failed"
    assert "535" in str(result.error)
    assert handler.received == []


def test_starttls_is_used_when_offered(
    start_smtp: StartServer, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    handler = Recorder()
    port = start_smtp(handler, tls_context=tls.server_context)

    result = deliver(f"smtp://127.0.0.1:{port}")

    assert result.outcome == "sent"
    assert handler.received[0].over_starttls


def test_starttls_no_stays_in_plain_text(start_smtp: StartServer, tls: Tls) -> None:
    handler = Recorder()
    port = start_smtp(handler, tls_context=tls.server_context)

    result = deliver(f"smtp://127.0.0.1:{port}?starttls=no")

    assert result.outcome == "sent"
    assert not handler.received[0].over_starttls


def test_untrusted_certificate_is_refused_and_retried(
    start_smtp: StartServer, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    handler = Recorder()
    port = start_smtp(handler, tls_context=tls.server_context)

    result = deliver(f"smtp://127.0.0.1:{port}")

    assert result.outcome == "retry"
    assert "CERTIFICATE_VERIFY_FAILED" in str(result.error)
    assert handler.received == []


def test_smtps_speaks_tls_from_the_first_byte(
    start_smtp: StartServer, tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    handler = Recorder()
    # This server only speaks TLS, so any delivery at all proves implicit TLS.
    port = start_smtp(handler, ssl_context=tls.server_context)

    result = deliver(f"smtps://127.0.0.1:{port}")

    assert result.outcome == "sent"
    assert handler.received[0].rcpt_tos == [PATIENT]
    assert deliver(f"smtp://127.0.0.1:{port}?starttls=no", timeout=2).outcome == "retry"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://x", "smtp:// or smtps://"),
        ("smtp://", "no host"),
        ("smtp://127.0.0.1:port", "invalid port"),
        ("smtp://127.0.0.1?tls=1", "unknown options: tls"),
        ("smtp://127.0.0.1?starttls=maybe", "starttls"),
    ],
)
def test_invalid_url_is_refused_at_construction(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="SMTP URL") as error:
        EmailChannel(url, MAIL_FROM)
    assert problem in str(error.value)


@pytest.mark.parametrize(
    ("url", "host", "port", "implicit_tls", "starttls"),
    [
        ("smtp://mail.example", "mail.example", 25, False, True),
        ("smtp://mail.example:2525?starttls=no", "mail.example", 2525, False, False),
        ("smtps://mail.example", "mail.example", 465, True, False),
    ],
)
def test_url_defaults(url: str, host: str, port: int, implicit_tls: bool, starttls: bool) -> None:
    server = EmailChannel(url, MAIL_FROM).server

    assert (server.host, server.port) == (host, port)
    assert (server.implicit_tls, server.starttls) == (implicit_tls, starttls)
    assert server.user is None


def test_mail_from_without_address_is_refused() -> None:
    with pytest.raises(ValueError, match="mail_from"):
        EmailChannel("smtp://127.0.0.1", "Aftercare")
