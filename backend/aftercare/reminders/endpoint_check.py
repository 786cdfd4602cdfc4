"""Push endpoints lead to the public internet only (no request forgery through a subscription).

A push subscription names a URL the server will POST to. Without a check, a
phone could name `http://169.254.169.254/` or a service on the clinic's
network, and the dispatcher would send to it. So an endpoint must be `https`
on a host whose every address is public, checked when it is stored and again
each time the server sends to it, since the name may resolve elsewhere by
then. `AFTERCARE_PUSH_ALLOW_INSECURE` lifts the rule, for tests and an
intranet push service.
"""

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from fastapi.exceptions import RequestValidationError

from aftercare.i18n import _
from aftercare.reminders.schemas import PushSubscriptionCreate
from aftercare.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A lookup that takes longer is treated as one that failed: a request or a
# dispatcher never waits on a slow resolver for long.
RESOLVE_TIMEOUT_S = 3.0
HTTPS_PORT = 443

NOT_HTTPS = _("must be an https URL")
WITH_CREDENTIALS = _("must not contain a user name or password")
# One answer for a name that does not resolve and one that resolves inside:
# the error must not tell a caller which internal names exist.
NOT_PUBLIC = _("must be a push service on the public internet")

# Networks whose addresses carry an IPv4 address inside an IPv6 one.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedEndpoint(Exception):
    """An endpoint the server will not send to; `reason` names no URL and is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvedEndpoint(RefusedEndpoint):
    """The host did not resolve (in time): perhaps only for now."""


def is_public(address: IPAddress) -> bool:
    """An address on the public internet: no private, shared, loopback, link-local,
    multicast, reserved, unspecified or site-local one, nor one of those inside an
    IPv6 address (IPv4-mapped, 6to4, Teredo, NAT64)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return False
        for inner in _embedded_ipv4(address):
            if not is_public(inner):
                return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    inner = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
    if address in _NAT64:
        inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [found for found in inner if found is not None]


class Resolver:
    """Host names to addresses, in worker threads and with a time limit.

    `getaddrinfo` has no timeout of its own; a lookup that overruns is given up
    on (its thread finishes in the background when the system resolver does).
    """

    def __init__(self, timeout: float = RESOLVE_TIMEOUT_S, workers: int = 4) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push-dns")

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The host's addresses in the resolver's order; UnresolvedEndpoint when there are none."""
        try:
            return [_address_of(host)]
        except ValueError:
            pass
        lookup = self._pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            found = lookup.result(timeout=self.timeout)
        except (OSError, UnicodeError, FutureTimeout):
            raise UnresolvedEndpoint(NOT_PUBLIC) from None
        addresses: list[IPAddress] = []
        for family, *_rest, sockaddr in found:
            if family in (socket.AF_INET, socket.AF_INET6):
                address = _address_of(str(sockaddr[0]))
                if address not in addresses:
                    addresses.append(address)
        if not addresses:
            raise UnresolvedEndpoint(NOT_PUBLIC)
        return addresses

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _address_of(text: str) -> IPAddress:
    # getaddrinfo gives a link-local IPv6 address with its zone ("fe80::1%eth0").
    return ipaddress.ip_address(text.partition("%")[0])


def checked_addresses(endpoint: str, allow_insecure: bool, resolver: Resolver) -> list[IPAddress]:
    """The addresses the server may connect to for this endpoint, or RefusedEndpoint.

    With `allow_insecure` any address is returned: the connection still goes to
    the address looked up here.
    """
    host, port = checked_form(endpoint, allow_insecure)
    addresses = resolver.addresses(host, port)
    if not allow_insecure and not all(is_public(address) for address in addresses):
        raise RefusedEndpoint(NOT_PUBLIC)
    return addresses


def checked_form(endpoint: str, allow_insecure: bool) -> tuple[str, int]:
    """The host and port to look up, once the URL's form is acceptable."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise RefusedEndpoint(NOT_PUBLIC) from None
    if parts.username is not None or parts.password is not None:
        raise RefusedEndpoint(WITH_CREDENTIALS)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedEndpoint(NOT_HTTPS)
    if parts.scheme != "https" and not allow_insecure:
        raise RefusedEndpoint(NOT_HTTPS)
    return parts.hostname, port or (HTTPS_PORT if parts.scheme == "https" else 80)


# For subscriptions: their lookups never queue behind the dispatcher's.
SUBSCRIPTION_RESOLVER = Resolver()


def require_public_endpoint(subscription: PushSubscriptionCreate, settings: Settings) -> None:
    """FastAPI's 422 naming `endpoint` unless the server may send to it (api.md).

    The answer never repeats the URL: it is the phone's private address for its messages.
    """
    endpoint = str(subscription.endpoint)
    try:
        if settings.push_allow_insecure:
            # The rule is lifted: only the URL's form is checked, nothing is looked up.
            checked_form(endpoint, allow_insecure=True)
        else:
            checked_addresses(endpoint, allow_insecure=False, resolver=SUBSCRIPTION_RESOLVER)
    except RefusedEndpoint as refused:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("body", "endpoint"), "msg": refused.reason}]
        ) from None
