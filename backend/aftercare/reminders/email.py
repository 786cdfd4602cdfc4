"""The e-mail channel: one plain-text message per notification, through an SMTP relay,
over a few connections kept open."""

import logging
import smtplib
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from aftercare.reminders.channels import Delivery, Result

log = logging.getLogger(__name__)

# Text that is not ASCII goes quoted-printable: still readable where it is ASCII.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to connect, parsed from `AFTERCARE_SMTP_URL`."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    user: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    """Read `smtp://[user:password@]host[:port][?starttls=no]` or `smtps://…`.

    Raises ValueError naming what is wrong.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"SMTP URL must start with smtp:// or smtps://, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("SMTP URL has no host (expected smtp://host[:port])")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SMTP URL has an invalid port") from None
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError("SMTP URL must not have a path or a fragment")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - {"starttls"})
    if unknown:
        raise ValueError(f"SMTP URL has unknown options: {', '.join(unknown)}")
    starttls = options.get("starttls", ["auto"])
    if starttls not in (["auto"], ["no"]):
        raise ValueError("SMTP URL option starttls must be 'no' (or 'auto', the default)")
    implicit_tls = parts.scheme == "smtps"
    if implicit_tls and "starttls" in options:
        raise ValueError("SMTP URL option starttls applies to smtp:// only")
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=not implicit_tls and starttls == ["auto"],
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class EmailChannel:
    """Sends a Delivery's neutral Message to `delivery.email`.

    `smtp://` connects in plain text and upgrades with STARTTLS when the server
    offers it (unless `?starttls=no`); `smtps://` uses TLS from the start.
    Certificates are verified against the system's trust store.
    """

    name = "email"

    def __init__(
        self, smtp_url: str, mail_from: str, timeout: float = 10, connections: int = 1
    ) -> None:
        self.server = parse_smtp_url(smtp_url)
        self._pool = _Connections(self._connect, connections)
        self.mail_from = mail_from
        self.timeout = timeout
        self.sender = parseaddr(mail_from)[1]
        local, _, domain = self.sender.rpartition("@")
        if not local or not domain:
            raise ValueError(f"mail_from must be an e-mail address, got {mail_from!r}")
        # The Message-ID names the sender's domain, not this server's hostname.
        self.message_id_domain = domain

    def send(self, delivery: Delivery) -> Result:
        """Hand the message to the relay: "sent", "retry" (try later) or "failed"."""
        if not delivery.email:
            return Result("failed", error="no e-mail address")
        try:
            message = self._compose(delivery, delivery.email)
        except ValueError:
            # A line break in an address or title: no later try can succeed.
            return Result("failed", error="cannot build the message (invalid address or title)")
        result = self._submit(message, delivery.email)
        if result.error:
            # The server's reply may echo the address; keep it out of logs and the database.
            result = Result(result.outcome, error=result.error.replace(delivery.email, "<to>"))
            fields = {"channel": "email", "outcome": result.outcome}
            log.warning("e-mail not sent", extra={"fields": fields})
        return result

    def _compose(self, delivery: Delivery, to: str) -> Message:
        """The message, built with the email package's plain (compat32) classes.

        `EmailMessage` parses every header as it is set: five times the CPU of the
        whole send for a message this simple. What it checked is checked here: no
        line break in a header (no header can be slipped in), and non-ASCII text
        is encoded (RFC 2047 in the subject, quoted-printable in the body).
        """
        text = delivery.message
        for value in (to, text.title, self.mail_from):
            if "\r" in value or "\n" in value:
                raise ValueError("a line break in a header")
        body = f"{text.body}\n\n{text.url}\n"
        message = MIMENonMultipart("text", "plain")
        message.set_payload(body, "us-ascii" if body.isascii() else _UTF8)
        message["From"] = self.mail_from
        message["To"] = to
        title = text.title
        message["Subject"] = title if title.isascii() else Header(title, "utf-8").encode()
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{uuid.uuid4().hex}@{self.message_id_domain}>"
        # RFC 3834: tells auto-responders (vacation replies) not to answer.
        message["Auto-Submitted"] = "auto-generated"
        return message

    def close(self) -> None:
        """Say goodbye on the connections kept open."""
        self._pool.close()

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        tls = ssl.create_default_context()
        smtp: smtplib.SMTP
        if server.implicit_tls:
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=tls)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if server.starttls and smtp.has_extn("starttls"):
                smtp.starttls(context=tls)
                smtp.ehlo()
            if server.user is not None:
                smtp.login(server.user, server.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _submit(self, message: Message, to: str) -> Result:
        try:
            with self._pool.connection() as smtp:
                smtp.send_message(message, from_addr=self.sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            return _by_code(code, f"recipient refused: {code} {_text(reply)}")
        except smtplib.SMTPResponseException as exc:
            error = f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
            return _by_code(exc.smtp_code, error)
        except smtplib.SMTPServerDisconnected as exc:
            return Result("retry", error=f"server disconnected: {exc}")
        except smtplib.SMTPException as exc:
            # E.g. the server lacks AUTH or SMTPUTF8: waiting will not change that.
            return Result("failed", error=f"{type(exc).__name__}: {exc}")
        except OSError as exc:
            # Refused, unreachable, timed out, TLS handshake: the relay may be back later.
            return Result("retry", error=f"{type(exc).__name__}: {exc}")
        return Result("sent")


class _Connections:
    """A few SMTP connections kept open and reused, one message at a time on each.

    A relay closes a connection it has not heard from for a while (RFC 5321 asks it
    to wait 5 minutes at least): one idle longer than `FRESH_S` is asked NOOP before
    it is used, and replaced when it does not answer. After any error a connection
    is closed, never reused in an unknown state; after `MESSAGES_EACH` messages it
    is replaced (relays limit the messages a connection may carry).
    """

    FRESH_S = 30.0
    MESSAGES_EACH = 100

    def __init__(self, connect: Callable[[], smtplib.SMTP], size: int) -> None:
        self._connect = connect
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        # (connection, messages sent on it, when it was last used)
        self._idle: list[tuple[smtplib.SMTP, int, float]] = []

    @contextmanager
    def connection(self) -> Iterator[smtplib.SMTP]:
        with self._slots:
            smtp, sent = self._take()
            try:
                yield smtp
            except BaseException:
                _quietly_close(smtp, polite=False)
                raise
            sent += 1
            if sent >= self.MESSAGES_EACH:
                _quietly_close(smtp, polite=True)
            else:
                with self._lock:
                    self._idle.append((smtp, sent, time.monotonic()))

    def _take(self) -> tuple[smtplib.SMTP, int]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                smtp, sent, used_at = self._idle.pop()
            if time.monotonic() - used_at < self.FRESH_S:
                return smtp, sent
            try:
                if smtp.noop()[0] == 250:
                    return smtp, sent
            except (smtplib.SMTPException, OSError):
                pass
            _quietly_close(smtp, polite=False)
        return self._connect(), 0

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp, _sent, _used_at in idle:
            _quietly_close(smtp, polite=True)


def _quietly_close(smtp: smtplib.SMTP, polite: bool) -> None:
    # Accepted is accepted: a failed QUIT must never turn "sent" into a retry (a duplicate).
    if polite:
        with suppress(smtplib.SMTPException, OSError):
            smtp.quit()
    smtp.close()


def _by_code(code: int, error: str) -> Result:
    return Result("failed" if 500 <= code < 600 else "retry", error=error)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
