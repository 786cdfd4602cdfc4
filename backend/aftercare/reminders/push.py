"""Web push: messages encrypted for the browser (RFC 8291), signed with our VAPID key (RFC 8292).

The push service (Google's, Mozilla's, Apple's) sees only ciphertext, the
endpoint and our `Topic`; the payload is the neutral `Message` and nothing else.
"""

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid, VapidException  # type: ignore[import-untyped]
from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]
from requests.adapters import HTTPAdapter
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from aftercare.reminders.channels import Delivery, Message, Outcome, PushTarget, Result
from aftercare.reminders.endpoint_check import (
    RESOLVE_TIMEOUT_S,
    RefusedEndpoint,
    Resolver,
    UnresolvedEndpoint,
    checked_addresses,
)
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


def topic(tag: str) -> str:
    """The `Topic` header for a message tag (RFC 8030 §5.4: ≤ 32 URL-safe base64 characters).

    A retried message carries the same topic, so the push service replaces the
    undelivered copy instead of queuing a second one.
    """
    return _b64url(hashlib.sha256(tag.encode()).digest())[:32]


class CheckedAdapter(HTTPAdapter):
    """Sends only to an address checked a moment before, and to no other.

    The connection goes to the address the check looked up, so a name that
    resolves elsewhere a second later (DNS rebinding) cannot lead the request
    inside; TLS still verifies the certificate for the name (SNI), and the
    `Host` header still carries it.
    """

    def __init__(self, allow_insecure: bool, resolver: Resolver) -> None:
        # Older versions of requests never call the hook below: the check would be skipped.
        if not hasattr(HTTPAdapter, "build_connection_pool_key_attributes"):
            raise RuntimeError("the push endpoint check needs requests 2.32 or later")
        super().__init__()
        self.allow_insecure = allow_insecure
        self.resolver = resolver

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        address, *_others = checked_addresses(request.url or "", self.allow_insecure, self.resolver)
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = host_params["host"]
        host_params["host"] = str(address)
        return host_params, pool_kwargs

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        # The connection's host is now an address; the push service wants the name.
        request.headers["Host"] = urlsplit(request.url or "").netloc.rpartition("@")[2]


class WebPushChannel:
    """Sends a delivery's message to each of its push subscriptions."""

    name = "push"

    def __init__(
        self,
        private_pem: str,
        subject: str,
        timeout: float = 10,
        ttl_s: int = TTL_SECONDS,
        allow_insecure: bool = False,
    ) -> None:
        self.ttl_s = ttl_s
        # Push services reject a VAPID token without a contact; say so at start-up.
        if not subject.startswith(("mailto:", "https://")):
            raise ValueError(f"the VAPID subject must be a mailto: or https: URL, not {subject!r}")
        # pywebpush parses a PEM string poorly; a Vapid built from the key object is exact.
        self._vapid = Vapid(_load_private_key(private_pem))
        self.subject = subject
        self.timeout = timeout
        self._resolver = Resolver(timeout=min(timeout, RESOLVE_TIMEOUT_S))
        adapter = CheckedAdapter(allow_insecure, self._resolver)
        self._http = requests.Session()
        # Every request, a redirect's too, goes through the check.
        self._http.mount("https://", adapter)
        self._http.mount("http://", adapter)

    def send(self, delivery: Delivery) -> Result:
        outcome: Outcome | None = None
        error: str | None = None
        retired: list[int] = []
        for target in delivery.push:
            result = self._send_one(target, delivery.message)
            if result is None:
                retired.append(target.subscription_id)
                continue
            retired.extend(result.retired)
            if outcome is None or _PRECEDENCE[result.outcome] > _PRECEDENCE[outcome]:
                outcome, error = result.outcome, result.error
        if outcome is None:
            return Result("failed", "no push subscription", tuple(retired))
        return Result(outcome, error, tuple(retired))

    def close(self) -> None:
        self._http.close()
        self._resolver.close()

    def _send_one(self, target: PushTarget, message: Message) -> Result | None:
        """The result for one subscription, or None when the push service says it is gone."""
        host = urlsplit(target.endpoint).hostname or "push service"
        payload = {
            "title": message.title,
            "body": message.body,
            "url": message.url,
            "tag": message.tag,
        }
        try:
            webpush(
                subscription_info={
                    "endpoint": target.endpoint,
                    "keys": {"p256dh": target.p256dh, "auth": target.auth},
                },
                data=json.dumps(payload),
                vapid_private_key=self._vapid,
                # A fresh dict each time: pywebpush writes `aud` into it, and a
                # reused one would carry the first endpoint's origin to the next.
                vapid_claims={"sub": self.subject},
                content_encoding="aes128gcm",
                timeout=self.timeout,
                ttl=self.ttl_s,
                headers={"Topic": topic(message.tag)},
                requests_session=self._http,
            )
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
        except WebPushException as exc:
            status = exc.status_code
            if status is None:
                # Raised before any request: the subscription lacks a key or has a short one.
                return Result("failed", f"invalid push subscription for {host}")
            if status in GONE:
                return None
            outcome: Outcome = "failed" if status in OUR_FAULT else "retry"
            return Result(outcome, f"{host} answered {status}")
        except requests.RequestException as exc:
            return Result("retry", f"{host} unreachable: {type(exc).__name__}")
        return Result("sent")
