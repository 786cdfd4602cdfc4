"""Web push against a push service on 127.0.0.1 and a browser made of real keys.

Nothing is mocked: the channel encrypts (RFC 8291) and py_vapid signs for real, the
local service records what arrived, and the test decrypts it with http_ece, an
implementation of its own, and verifies it as a browser and a push service would.
"""

import base64
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import http_ece  # type: ignore[import-untyped]
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from aftercare.reminders.channels import Delivery, Message, PushTarget
from aftercare.reminders.models import ServerKey
from aftercare.reminders.push import VapidKeys, WebPushChannel, encrypt, topic, vapid_keys
from tests.live import http_server

SUBJECT = "mailto:ops@clinic.example"
MESSAGE = Message(
    title="Aftercare",
    body="Time for your daily check-in",
    url="https://care.example/today",
    tag="reminder-42",
)
# How long the test waits at most for anything: generous, so that a slow, busy machine
# only makes it slower, never decides the outcome.
CEILING_S = 300


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_point(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The public key as browsers and VAPID carry it: uncompressed point, base64url."""
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(point)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """Records every POST; answers the status set for its path, 201 otherwise."""

    port: int
    received: list[Received] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    # "/slow" holds its answer until the test releases it, and then notes it answered.
    release: threading.Event = field(default_factory=threading.Event)
    answered: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def endpoint(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService(port=0, statuses={"/gone": 410, "/broken": 500})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            service.received.append(Received(self.path, headers, body))
            if self.path == "/slow":
                service.release.wait(CEILING_S)
            self.send_response(service.statuses.get(self.path, 201))
            self.send_header("Content-Length", "0")
            self.end_headers()
            service.answered.append(self.path)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http_server(Handler) as port:
        service.port = port
        try:
            yield service
        finally:
            service.release.set()


@dataclass
class Browser:
    """A subscribed browser: its own P-256 key pair and 16-byte auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> "Browser":
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        return public_point(self.private_key)

    def target(self, subscription_id: int, endpoint: str) -> PushTarget:
        return PushTarget(subscription_id, endpoint, self.p256dh, b64url_encode(self.auth))

    def decrypt(self, body: bytes) -> Any:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plain)


@pytest.fixture
def browser() -> Browser:
    return Browser.new()


@pytest.fixture
def keys(session: Session) -> VapidKeys:
    return vapid_keys(session)


@pytest.fixture
def channel(keys: VapidKeys) -> Iterator[WebPushChannel]:
    push = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)  # 127.0.0.1
    yield push
    push.close()


def deliver(*targets: PushTarget, message: Message = MESSAGE) -> Delivery:
    return Delivery(reminder_id=1, message=message, push=targets)


def verified_claims(authorization: str, expected_key: str) -> dict[str, Any]:
    """Check a VAPID `Authorization` header as a push service does; return the JWT claims."""
    scheme, _, parameters = authorization.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in parameters.split(","))
    assert set(fields) == {"t", "k"}
    assert fields["k"] == expected_key
    header_b64, payload_b64, signature_b64 = fields["t"].split(".")
    assert json.loads(b64url_decode(header_b64))["alg"] == "ES256"
    signature = b64url_decode(signature_b64)
    assert len(signature) == 64, "JWS ES256 signatures are raw r||s"
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), b64url_decode(fields["k"])
    )
    public_key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    claims: dict[str, Any] = json.loads(b64url_decode(payload_b64))
    return claims


# --- What arrives at the push service ---


def test_the_browser_decrypts_exactly_the_neutral_message(channel, push_service, browser):
    result = channel.send(deliver(browser.target(7, push_service.endpoint("/phone"))))

    assert result.outcome == "sent" and result.error is None and result.retired == ()
    (received,) = push_service.received
    assert received.path == "/phone"
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.headers["content-type"] == "application/octet-stream"
    assert received.headers["urgency"] == "normal"
    assert MESSAGE.body.encode() not in received.body, "the push service sees only ciphertext"
    assert browser.decrypt(received.body) == {
        "title": MESSAGE.title,
        "body": MESSAGE.body,
        "url": MESSAGE.url,
        "tag": MESSAGE.tag,
    }


@settings(max_examples=50, deadline=None)
@given(plain=st.binary(min_size=1, max_size=3000), salt=st.binary(min_size=16, max_size=16))
def test_the_encryption_is_byte_for_byte_http_eces_rfc_8291(plain, salt):
    """Our RFC 8291 encryption, given the same key pair and salt, makes exactly the bytes
    http_ece (the reference library) makes, and the browser's key opens it. (Never
    empty: a message is JSON, and http_ece makes no record at all for nothing.)"""
    browser = Browser.new()
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    ours = encrypt(plain, browser.p256dh, b64url_encode(browser.auth), ephemeral, salt)
    theirs = http_ece.encrypt(
        plain,
        private_key=ephemeral,
        dh=b64url_decode(browser.p256dh),
        auth_secret=browser.auth,
        salt=salt,
        version="aes128gcm",
    )
    assert ours == theirs
    assert (
        http_ece.decrypt(
            ours, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
        == plain
    )


def test_each_message_has_a_key_pair_and_a_salt_of_its_own(browser):
    first = encrypt(b"same", browser.p256dh, b64url_encode(browser.auth))
    second = encrypt(b"same", browser.p256dh, b64url_encode(browser.auth))
    assert first[:16] != second[:16], "salt"
    assert first[21:86] != second[21:86], "the sender's public key"


def test_a_point_off_the_curve_is_refused(browser):
    off_curve = b64url_encode(b"\x04" + b"\x01" * 64)
    with pytest.raises(ValueError):
        encrypt(b"x", off_curve, b64url_encode(browser.auth))


def test_another_browser_cannot_decrypt_the_message(channel, push_service, browser):
    channel.send(deliver(browser.target(7, push_service.endpoint("/phone"))))
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises InvalidTag or ECEException
        Browser(ec.generate_private_key(ec.SECP256R1()), browser.auth).decrypt(
            push_service.received[0].body
        )


def test_the_vapid_token_is_signed_by_the_server_key_for_the_push_service(
    channel, push_service, browser, keys
):
    before = int(time.time())
    channel.send(deliver(browser.target(7, push_service.endpoint("/phone"))))
    after = int(time.time())

    claims = verified_claims(push_service.received[0].headers["authorization"], keys.public_key)
    assert set(claims) == {"aud", "sub", "exp"}
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == SUBJECT
    # In the future, and at most 24 hours after it was signed (RFC 8292), however long
    # the sending took.
    assert before < claims["exp"] <= after + 24 * 3600


def test_a_tampered_vapid_token_does_not_verify(channel, push_service, browser, keys):
    channel.send(deliver(browser.target(7, push_service.endpoint("/phone"))))
    authorization = push_service.received[0].headers["authorization"]
    token = re.search(r"t=([^,]+)", authorization)
    assert token is not None
    header, payload, signature = token.group(1).split(".")
    forged_claims = {**json.loads(b64url_decode(payload)), "sub": "mailto:someone@else.example"}
    forged = ".".join((header, b64url_encode(json.dumps(forged_claims).encode()), signature))
    with pytest.raises(InvalidSignature):
        verified_claims(authorization.replace(token.group(1), forged), keys.public_key)


def test_each_push_service_gets_a_token_for_its_own_origin(channel, push_service, browser, keys):
    # Two origins on one server: the second token must not carry the first audience.
    first = browser.target(1, push_service.endpoint("/phone", host="127.0.0.1"))
    second = browser.target(2, push_service.endpoint("/tablet", host="localhost"))

    assert channel.send(deliver(first, second)).outcome == "sent"
    audiences = {
        received.path: verified_claims(received.headers["authorization"], keys.public_key)["aud"]
        for received in push_service.received
    }
    assert audiences == {
        "/phone": f"http://127.0.0.1:{push_service.port}",
        "/tablet": f"http://localhost:{push_service.port}",
    }


def test_a_message_lives_no_longer_than_a_reminder_may_be_late(push_service, browser, settings):
    from aftercare.reminders.push import VapidKeys
    from aftercare.reminders.runtime import make_channels

    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    channel = make_channels(settings, VapidKeys(pem, ""))["push"]
    channel.send(deliver(browser.target(7, push_service.endpoint("/phone"))))
    # A phone offline all evening must not light up at 3 a.m. with it.
    assert push_service.received[0].headers["ttl"] == str(settings.max_lateness_minutes * 60)


def test_a_retried_message_has_the_same_topic_and_another_message_another(
    channel, push_service, browser
):
    target = browser.target(7, push_service.endpoint("/phone"))
    other = Message(MESSAGE.title, MESSAGE.body, MESSAGE.url, tag="reminder-43")
    for message in (MESSAGE, MESSAGE, other):
        channel.send(deliver(target, message=message))

    first, retried, another = (received.headers["topic"] for received in push_service.received)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", first), "RFC 8030: ≤ 32 URL-safe base64 chars"
    assert first == retried == topic(MESSAGE.tag)
    assert another != first
    assert MESSAGE.tag not in first, "the topic is derived, not the tag itself"


# --- Outcomes ---


def test_every_subscription_accepted_means_sent(channel, push_service, browser):
    phone, laptop = Browser.new(), Browser.new()
    result = channel.send(
        deliver(
            phone.target(1, push_service.endpoint("/phone")),
            laptop.target(2, push_service.endpoint("/laptop")),
        )
    )
    assert result.outcome == "sent" and result.retired == ()
    bodies = {received.path: received.body for received in push_service.received}
    assert phone.decrypt(bodies["/phone"])["tag"] == MESSAGE.tag
    assert laptop.decrypt(bodies["/laptop"])["tag"] == MESSAGE.tag


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_retired_and_the_others_still_get_it(
    channel, push_service, browser, status
):
    push_service.statuses["/gone"] = status
    result = channel.send(
        deliver(
            browser.target(1, push_service.endpoint("/gone")),
            browser.target(2, push_service.endpoint("/phone")),
        )
    )
    assert result.outcome == "sent"
    assert result.retired == (1,)
    # The devices are sent to at once: in no particular order.
    assert sorted(received.path for received in push_service.received) == ["/gone", "/phone"]


def test_when_every_subscription_is_gone_the_reminder_fails_and_all_are_retired(
    channel, push_service, browser
):
    result = channel.send(
        deliver(
            browser.target(1, push_service.endpoint("/gone")),
            browser.target(2, push_service.endpoint("/gone")),
        )
    )
    assert result.outcome == "failed"
    assert result.error == "no push subscription"
    assert result.retired == (1, 2)


def test_no_subscription_at_all_fails_without_a_request(channel, push_service):
    result = channel.send(deliver())
    assert (result.outcome, result.error, result.retired) == ("failed", "no push subscription", ())
    assert push_service.received == []


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_push_service_error_is_retried(channel, push_service, browser, status):
    push_service.statuses["/broken"] = status
    result = channel.send(deliver(browser.target(1, push_service.endpoint("/broken"))))
    assert result.outcome == "retry"
    assert result.error is not None and str(status) in result.error


def test_a_retry_still_reports_the_subscriptions_that_are_gone(channel, push_service, browser):
    result = channel.send(
        deliver(
            browser.target(1, push_service.endpoint("/phone")),
            browser.target(2, push_service.endpoint("/broken")),
            browser.target(3, push_service.endpoint("/gone")),
        )
    )
    assert result.outcome == "retry"
    assert result.retired == (3,)


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_a_request_the_push_service_refuses_fails_for_good(channel, push_service, browser, status):
    push_service.statuses["/refused"] = status
    result = channel.send(deliver(browser.target(1, push_service.endpoint("/refused"))))
    assert result.outcome == "failed"
    assert result.error is not None and str(status) in result.error
    assert result.retired == ()


def test_an_unreachable_push_service_is_retried(channel, browser):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = channel.send(deliver(browser.target(1, f"http://127.0.0.1:{closed_port}/phone")))
    assert result.outcome == "retry"
    assert result.error is not None and "unreachable" in result.error


def test_a_push_service_that_does_not_answer_in_time_is_retried(keys, push_service, browser):
    """The push service holds its answer until the test lets it go: the channel must
    give up on its own, however slow the machine."""
    impatient = WebPushChannel(keys.private_pem, SUBJECT, timeout=1, allow_insecure=True)
    result = impatient.send(deliver(browser.target(1, push_service.endpoint("/slow"))))
    impatient.close()
    assert push_service.answered == [], "the channel gave up before the service answered"
    assert result.outcome == "retry"
    assert result.error is not None and "Timeout" in result.error


@pytest.mark.parametrize(
    "p256dh",
    [
        b64url_encode(b"\x04" + b"\x00" * 64),
        b64url_encode(b"\x04" * 10),
        "not base64 at all!",
    ],
    ids=["not-a-curve-point", "too-short", "not-base64"],
)
def test_a_subscription_with_broken_keys_fails_without_reaching_the_push_service(
    channel, push_service, browser, p256dh
):
    good = browser.target(1, push_service.endpoint("/phone"))
    broken = PushTarget(1, push_service.endpoint("/phone"), p256dh, good.auth)
    result = channel.send(deliver(broken))
    assert result.outcome == "failed"
    assert result.error is not None and "invalid push subscription" in result.error
    assert push_service.received == []


def test_a_subject_that_is_not_a_contact_is_refused_at_start(keys):
    with pytest.raises(ValueError, match="mailto"):
        WebPushChannel(keys.private_pem, "ops@clinic.example")


# --- The server's VAPID keys ---


def test_vapid_keys_are_made_once_and_read_back_after(session, engine):
    first = vapid_keys(session)
    again = vapid_keys(session)
    with Session(engine) as other_process:
        elsewhere = vapid_keys(other_process)

    assert first == again == elsewhere
    stored = {key.name: key.value for key in session.exec(select(ServerKey))}
    assert stored == {"vapid-private": first.private_pem, "vapid-public": first.public_key}
    point = b64url_decode(first.public_key)
    assert len(point) == 65 and point[0] == 0x04
    assert "=" not in first.public_key
    private_key = serialization.load_pem_private_key(first.private_pem.encode(), password=None)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(private_key.curve, ec.SECP256R1)
    assert public_point(private_key) == first.public_key


def test_two_processes_starting_together_end_with_one_key_pair(session, engine: Engine):
    # The other process stores its keys after this one found none and just before it writes.
    theirs = ec.generate_private_key(ec.SECP256R1())
    their_pem = theirs.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    their_public = public_point(theirs)

    def other_process_commits_first(*_: object) -> None:
        with Session(engine) as other:
            other.add(ServerKey(name="vapid-private", value=their_pem))
            other.add(ServerKey(name="vapid-public", value=their_public))
            other.commit()

    event.listen(session, "before_flush", other_process_commits_first, once=True)
    ours = vapid_keys(session)

    assert ours == VapidKeys(private_pem=their_pem, public_key=their_public)
    assert vapid_keys(session) == ours
    stored = {key.name: key.value for key in session.exec(select(ServerKey))}
    assert stored == {"vapid-private": their_pem, "vapid-public": their_public}
