"""HTTP/1.1 POSTs over kept-alive connections: the one exchange web push needs, lean.

Why not aiohttp, which sent the push messages before: the same POSTs on the same
push service cost 250 µs of CPU each through `aiohttp.ClientSession` and 72 µs
here (20,000 at 500 in flight, uvloop, one run), and a push message's CPU is what
bounds how many one dispatcher sends. What a general client does beyond this
(cookies, redirects, proxies, compression, streaming bodies) web push never uses.
The two parts worth a library come from one: the response parser is httptools
(llhttp, uvicorn's), TLS is the standard library's, with certificate and name
checks on.

A connection carries one exchange at a time. After a complete answer that allows
it, the connection waits in the pool for the next request to the same origin, for
at most `IDLE_S`; one the server has closed, or that breaks before a byte of an
answer came back after being reused, is replaced by a new connection once.
"""

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

import httptools

# A kept-alive connection left idle longer than this is closed rather than reused:
# a server or a NAT on the way may have dropped it without a word.
IDLE_S = 15.0


class ExchangeError(Exception):
    """No answer: no connection could be made, it broke, or what came back is not HTTP.

    The message says which, never the URL (it names the subscription)."""


@dataclass(frozen=True)
class Origin:
    scheme: str  # "http" or "https"
    host: str  # as the URL names it: the name TLS checks and Host carries
    port: int
    host_header: bytes


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the exchange under way on it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self._answer: asyncio.Future[tuple[int, bool]] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._status: int | None = None
        self._received = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("the answer is not HTTP")
            self.close()

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost settles the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._status is not None:
            # An answer whose body runs to the end of the connection: its status stands.
            self._settle(self._status, keep_alive=False)
        self._fail("the connection broke" if self._received else "the connection closed")

    # httptools callbacks

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        self._settle(status, keep_alive=self._parser.should_keep_alive())

    # The exchange

    async def exchange(self, request: bytes, timeout: float) -> tuple[int, bool]:
        """Send one request; (status, may the connection be reused). TimeoutError when
        no whole answer came within `timeout` seconds (a timer of the loop's own: half
        the CPU of `asyncio.timeout` at each message)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._status, self._received = None, False
        self._parser = httptools.HttpResponseParser(self)
        timer = loop.call_later(timeout, self._time_out)
        keep_alive = False
        try:
            self.transport.write(request)
            status, keep_alive = await self._answer
            return status, keep_alive
        finally:
            timer.cancel()
            # After an error or a cancellation the connection's state is unknown.
            if not keep_alive:
                self.close()

    def _time_out(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(TimeoutError())

    @property
    def answered_nothing(self) -> bool:
        return not self._received

    def _settle(self, status: int, keep_alive: bool) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((status, keep_alive))

    def _fail(self, reason: str) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ExchangeError(reason))

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


# The addresses a host may be reached at (already checked by the caller's rules).
Addresses = Callable[[str, int], Awaitable[Sequence[object]]]


class Pool:
    """Kept-alive connections per origin, at most `limit` of them waiting idle in all.

    How many exchanges run at once is the caller's to bound (the dispatcher's send
    loop keeps `AFTERCARE_DISPATCH_CONCURRENCY` deliveries in flight): a second
    semaphore here cost 3% of a message's CPU and bounded nothing more.
    """

    def __init__(self, addresses: Addresses, limit: int, tls: ssl.SSLContext, timeout: float):
        self._addresses = addresses
        # For each step: opening a connection (lookup and TLS included), then the exchange.
        self._timeout = timeout
        self._limit = limit
        self._tls = tls
        self._idle: dict[Origin, list[_Connection]] = {}
        self._idle_count = 0

    async def post(self, origin: Origin, target: bytes, headers: bytes, body: bytes) -> int:
        """POST `body` to `target` (path and query, already percent-encoded) on `origin`
        with `headers` (whole `Name: value\\r\\n` lines); the answer's status."""
        request = b"POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n%s" % (
            target,
            origin.host_header,
            headers,
            len(body),
            body,
        )
        connection = self._kept(origin) or await self._open(origin)
        try:
            status, reusable = await connection.exchange(request, self._timeout)
        except ExchangeError:
            if not (connection.reused and connection.answered_nothing):
                raise
            # A kept connection the server had already let go of: the request never
            # reached it. Once more, on a new connection.
            connection = await self._open(origin)
            status, reusable = await connection.exchange(request, self._timeout)
        if reusable and not connection.closed and self._idle_count < self._limit:
            connection.idle_since = time.monotonic()
            connection.reused = True
            self._idle.setdefault(origin, []).append(connection)
            self._idle_count += 1
        elif reusable:
            connection.close()
        return status

    def _kept(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if not connection.closed and now - connection.idle_since < IDLE_S:
                return connection
            connection.close()
        return None

    async def _open(self, origin: Origin) -> _Connection:
        async with asyncio.timeout(self._timeout):
            return await self._connect(origin)

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls if origin.scheme == "https" else None
        failure: OSError | None = None
        for address in await self._addresses(origin.host, origin.port):
            try:
                _, connection = await loop.create_connection(
                    _Connection,
                    host=str(address),
                    port=origin.port,
                    ssl=tls,
                    # TLS checks the certificate against the name, not the address.
                    server_hostname=origin.host if tls else None,
                )
            except ssl.SSLCertVerificationError as exc:
                raise ExchangeError("the certificate was refused") from exc
            except OSError as exc:
                failure = exc
                continue
            return connection
        raise ExchangeError("no connection could be made") from failure

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
