"""Web push: messages encrypted for the browser (RFC 8291), signed with our VAPID key (RFC 8292).

The push service (Google's, Mozilla's, Apple's) sees only ciphertext, the
endpoint and our `Topic`; the payload is the neutral `Message` and nothing else.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import ssl
import struct
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from py_vapid import Vapid, VapidException  # type: ignore[import-untyped]
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from yarl import URL

from aftercare.reminders.channels import Delivery, Outcome, PushTarget, Result
from aftercare.reminders.endpoint_check import (
    NOT_PUBLIC,
    RESOLVE_TIMEOUT_S,
    IPAddress,
    RefusedEndpoint,
    Resolver,
    UnresolvedEndpoint,
    checked_form,
    is_public,
)
from aftercare.reminders.http1 import ExchangeError, Origin, Pool
from aftercare.reminders.models import ServerKey

log = logging.getLogger(__name__)

PRIVATE_KEY_NAME = "vapid-private"
PUBLIC_KEY_NAME = "vapid-public"
# How long the push service keeps a message for a phone that is offline; the
# app passes its lateness limit, so a late reminder is dropped, not shown at night.
TTL_SECONDS = 3 * 60 * 60
GONE = frozenset({404, 410})
# Our request is wrong (bad key, payload too large): sending it again will not help.
OUR_FAULT = frozenset({400, 401, 403, 413})
# A VAPID token lives 12 hours (RFC 8292 allows up to 24) and is signed anew once
# less than 10 minutes of it are left.
TOKEN_LIFETIME_S = 12 * 60 * 60
TOKEN_RENEWED_BEFORE_S = 10 * 60
# How long a push service's looked-up and checked addresses are used before looking again.
CHECK_KEPT_S = 60.0
# RFC 8188's record size (one record of at most this, tag included) and AES-GCM's tag.
RECORD_SIZE = 4096
_TAG_LENGTH = 16
_CURVE = ec.SECP256R1()
# When devices disagree, the reminder takes the outcome that still has a chance.
_PRECEDENCE: dict[Outcome, int] = {"sent": 0, "failed": 1, "retry": 2}


@dataclass(frozen=True)
class VapidKeys:
    """The server's VAPID key pair."""

    private_pem: str
    # The uncompressed P-256 point, base64url without padding: a browser's
    # `applicationServerKey`.
    public_key: str


def vapid_keys(session: Session) -> VapidKeys:
    """Read the server's VAPID keys, making and storing them on first call.

    Two processes starting together both make a pair; the first to commit wins
    and the other reads it back.
    """
    stored = _stored_keys(session)
    if stored is not None:
        return stored
    private_key = ec.generate_private_key(ec.SECP256R1())
    keys = VapidKeys(
        private_pem=private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        public_key=_public_key(private_key),
    )
    session.add(ServerKey(name=PRIVATE_KEY_NAME, value=keys.private_pem))
    session.add(ServerKey(name=PUBLIC_KEY_NAME, value=keys.public_key))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        stored = _stored_keys(session)
        if stored is None:
            raise
        return stored
    return keys


def _stored_keys(session: Session) -> VapidKeys | None:
    row = session.get(ServerKey, PRIVATE_KEY_NAME)
    if row is None:
        return None
    # The public key is derived, not read, so the two can never disagree; the
    # stored copy is for an operator who wants to look it up.
    return VapidKeys(private_pem=row.value, public_key=_public_key(_load_private_key(row.value)))


def _load_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the VAPID private key is not an EC key")
    return key


def _public_key(private_key: ec.EllipticCurvePrivateKey) -> str:
    point = private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64url(point)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@lru_cache(maxsize=4096)
def _browser_keys(p256dh: str, auth: str) -> tuple[ec.EllipticCurvePublicKey, bytes, bytes]:
    """A subscription's P-256 key (and its point) and auth secret, decoded and checked once
    (ValueError if they are not a point on the curve and a 16-byte secret)."""
    point = base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4))
    secret = base64.urlsafe_b64decode(auth + "=" * (-len(auth) % 4))
    if len(point) != 65 or point[0] != 4 or len(secret) != 16:
        raise ValueError("not a P-256 point and a 16-byte secret")
    return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, point), point, secret


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")


def encrypt(
    plain: bytes,
    p256dh: str,
    auth: str,
    ephemeral: ec.EllipticCurvePrivateKey | None = None,
    salt: bytes | None = None,
) -> bytes:
    """The message encrypted for one browser (RFC 8291, aes128gcm, one record) under a key
    pair and a salt of its own (`ephemeral` and `salt` are for tests, never reused).

    Written here on `cryptography`'s primitives rather than through http_ece: the same
    bytes (the tests compare both) for 30% less CPU, which is most of a push's cost.
    """
    browser, point, secret = _browser_keys(p256dh, auth)
    if len(plain) + 1 + _TAG_LENGTH > RECORD_SIZE:
        raise ValueError("a push message must fit one record")
    ephemeral = ephemeral or ec.generate_private_key(_CURVE)
    sender = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    shared = ephemeral.exchange(ec.ECDH(), browser)
    # RFC 8291 §3.3-3.4: the auth secret and both public keys go into the key; then
    # RFC 8188 §2.2 derives the content key and nonce from it and the salt (HKDF-SHA-256,
    # each output under 32 bytes: one HMAC for the extract, one for the expand).
    key = _hmac(_hmac(secret, shared), b"WebPush: info\x00" + point + sender + b"\x01")
    salt = salt or os.urandom(16)
    prk = _hmac(salt, key)
    content_key = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    # The header (salt, record size, our public key as key id), then the single record:
    # the message and its last-record delimiter, no padding.
    sealed = AESGCM(content_key).encrypt(nonce, plain + b"\x02", None)
    return salt + struct.pack("!IB", RECORD_SIZE, len(sender)) + sender + sealed


@lru_cache(maxsize=4096)
def _form(endpoint: str, allow_insecure: bool) -> tuple[str, int]:
    """The host and port to check for an endpoint (RefusedEndpoint when its form is not
    acceptable, which is not kept: the next send finds it again)."""
    return checked_form(endpoint, allow_insecure)


@lru_cache(maxsize=256)
def _json_head(title: str, body: str, url: str) -> str:
    """The JSON of a message up to its tag: the same for every message of one kind in
    one language, encoded once (JSON took a tenth of a push message's CPU)."""
    return json.dumps({"title": title, "body": body, "url": url})[:-1] + ', "tag": '


@lru_cache(maxsize=4096)
def _audience(endpoint: str) -> str:
    """The push service's origin, which its VAPID token names (RFC 8292 §2)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=4096)
def _host(endpoint: str) -> str:
    """The push service's name, for an error (never the whole endpoint: it is private)."""
    return urlsplit(endpoint).hostname or "push service"


@lru_cache(maxsize=4096)
def _where(endpoint: str) -> tuple[Origin, bytes]:
    """An endpoint's origin and request target (path and query, percent-encoded), parsed
    once, not at each of its messages (ValueError when it is not a URL)."""
    url = URL(endpoint)
    host = url.raw_host
    if url.scheme not in ("http", "https") or not host or url.port is None:
        raise ValueError("not an http(s) URL with a host")
    shown = f"[{host}]" if ":" in host else host
    if url.explicit_port is not None:
        shown += f":{url.explicit_port}"
    origin = Origin(url.scheme, host, url.port, shown.encode("ascii"))
    return origin, url.raw_path_qs.encode("ascii")


def topic(tag: str) -> str:
    """The `Topic` header for a message tag (RFC 8030 §5.4: ≤ 32 URL-safe base64 characters).

    A retried message carries the same topic, so the push service replaces the
    undelivered copy instead of queuing a second one.
    """
    return _b64url(hashlib.sha256(tag.encode()).digest())[:32]


class WebPushChannel:
    """Sends a delivery's message to each of its push subscriptions.

    On the dispatcher's event loop (`send_async`) many messages are in flight at
    once over one pool of kept-alive connections (`http1`; HTTP/1.1, see
    docs/deploy.md on HTTP/2), and the VAPID token of each push service is
    signed once and reused until shortly before it expires. A new connection goes
    only to addresses the channel's check has just approved (so a name that
    resolves elsewhere a second later, DNS rebinding, cannot lead it inside); TLS
    still verifies the name. `send` sends one delivery alone, on a loop and
    connections of its own.
    """

    name = "push"

    def __init__(
        self,
        private_pem: str,
        subject: str,
        timeout: float = 10,
        ttl_s: int = TTL_SECONDS,
        allow_insecure: bool = False,
        connections: int = 100,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        # Push services reject a VAPID token without a contact; say so at start-up.
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError(f"the VAPID subject must be a mailto: or https: URL, not {subject!r}")
        # A Vapid built from the key object, not from the PEM text: exact, and parsed once.
        self._vapid = Vapid(_load_private_key(private_pem))
        self.subject = subject
        self.timeout = timeout
        self.allow_insecure = allow_insecure
        self.connections = connections
        # The certificates trusted: the system's (SSL_CERT_FILE or the default store),
        # read at the first send, unless a context is given.
        self._tls = tls
        self._resolver = Resolver(timeout=min(timeout, RESOLVE_TIMEOUT_S))
        self._pool: Pool | None = None
        # What every message carries, made once, not at each message.
        self._constant_headers = (
            b"TTL: %d\r\nContent-Encoding: aes128gcm\r\n"
            b"Content-Type: application/octet-stream\r\nUrgency: normal\r\n" % ttl_s
        )
        # Push service origin -> (Authorization header, when its token expires).
        self._tokens: dict[str, tuple[str, float]] = {}
        # (host, port) -> (checked addresses, until when the check stands).
        self._checks: dict[tuple[str, int], tuple[list[IPAddress], float]] = {}

    def send(self, delivery: Delivery) -> Result:
        return asyncio.run(self._send_alone(delivery))

    async def _send_alone(self, delivery: Delivery) -> Result:
        pool = self._new_pool()
        try:
            return await self._deliver(pool, delivery)
        finally:
            pool.close()

    async def send_async(self, delivery: Delivery) -> Result:
        if self._pool is None:
            self._pool = self._new_pool()
        return await self._deliver(self._pool, delivery)

    async def aclose(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def close(self) -> None:
        self._resolver.close()

    def _new_pool(self) -> Pool:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return Pool(self.checked, limit=self.connections, tls=self._tls, timeout=self.timeout)

    async def checked(self, host: str, port: int) -> list[IPAddress]:
        """The addresses this host may be reached at: looked up and checked, the answer
        kept for a minute (a refusal is not kept: it is looked up again next time)."""
        now = time.monotonic()
        kept = self._checks.get((host, port))
        if kept is not None and kept[1] > now:
            return kept[0]
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(None, self._resolver.addresses, host, port)
        if not self.allow_insecure and not all(is_public(address) for address in addresses):
            raise RefusedEndpoint(NOT_PUBLIC)
        self._checks[(host, port)] = (addresses, now + CHECK_KEPT_S)
        return addresses

    def authorization(self, endpoint: str) -> str:
        """The VAPID `Authorization` header for this endpoint's push service (RFC 8292):
        signed once per push service and reused until shortly before it expires."""
        audience = _audience(endpoint)
        now = time.time()
        kept = self._tokens.get(audience)
        if kept is not None and kept[1] - now > TOKEN_RENEWED_BEFORE_S:
            return kept[0]
        expires = int(now) + TOKEN_LIFETIME_S
        header: str = self._vapid.sign({"sub": self.subject, "aud": audience, "exp": expires})[
            "Authorization"
        ]
        self._tokens[audience] = (header, expires)
        return header

    async def _deliver(self, pool: Pool, delivery: Delivery) -> Result:
        outcome: Outcome | None = None
        error: str | None = None
        retired: list[int] = []
        message = delivery.message
        plain = (
            _json_head(message.title, message.body, message.url) + json.dumps(message.tag) + "}"
        ).encode()
        if len(delivery.push) == 1:  # the usual case: one phone, no task to gather
            results = [await self._send_one(pool, delivery.push[0], message.tag, plain)]
        else:
            results = await asyncio.gather(
                *(self._send_one(pool, target, message.tag, plain) for target in delivery.push)
            )
        for target, result in zip(delivery.push, results, strict=True):
            if result is None:
                retired.append(target.subscription_id)
                continue
            retired.extend(result.retired)
            if outcome is None or _PRECEDENCE[result.outcome] > _PRECEDENCE[outcome]:
                outcome, error = result.outcome, result.error
        if outcome is None:
            return Result("failed", "no push subscription", tuple(retired))
        return Result(outcome, error, tuple(retired))

    async def _send_one(
        self, pool: Pool, target: PushTarget, tag: str, plain: bytes
    ) -> Result | None:
        """The result for one subscription, or None when the push service says it is gone."""
        host = _host(target.endpoint)
        try:
            # Checked before anything is encrypted or signed; the connection, when one
            # is opened, goes to these very addresses (the pool asks `checked` again).
            await self.checked(*_form(target.endpoint, self.allow_insecure))
            origin, request_target = _where(target.endpoint)
            body = encrypt(plain, target.p256dh, target.auth)
            headers = b"%sTopic: %s\r\nAuthorization: %s\r\n" % (
                self._constant_headers,
                topic(tag).encode(),
                self.authorization(target.endpoint).encode(),
            )
            status = await pool.post(origin, request_target, headers, body)
        except UnresolvedEndpoint:
            return Result("retry", f"{host} unreachable: its name did not resolve")
        except RefusedEndpoint as refused:
            # Never again for this subscription: it names a place the server does not send to.
            log.warning("push subscription %s refused: %s", target.subscription_id, refused.reason)
            return Result(
                "failed", f"push endpoint refused: {refused.reason}", (target.subscription_id,)
            )
        except (ValueError, VapidException):
            # Keys that are not a P-256 point and a secret, or an endpoint that is
            # not a URL (or one py_vapid cannot name as the token's audience, such
            # as an IPv6 literal): the same request would fail the same way tomorrow.
            return Result("failed", f"invalid push subscription for {host}")
        except ExchangeError as exc:
            return Result("retry", f"{host} unreachable: {exc}")
        except TimeoutError as exc:
            return Result("retry", f"{host} unreachable: {type(exc).__name__}")
        if 200 <= status < 300:
            return Result("sent")
        if status in GONE:
            return None
        outcome: Outcome = "failed" if status in OUR_FAULT else "retry"
        return Result(outcome, f"{host} answered {status}")
