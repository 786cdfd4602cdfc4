"""Web push's own HTTP/1.1 client (aftercare.reminders.http1) against real servers on
loopback: TLS with a private CA, connections kept alive and replaced, answers that are
not what they should be. Each test sends through the channel, as the dispatcher does."""

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aftercare.reminders.channels import Result
from aftercare.reminders.push import VapidKeys, WebPushChannel, vapid_keys
from tests.live import http_server, private_tls
from tests.reminders.test_push import SUBJECT, Browser, deliver

CEILING_S = 300


class Recorder:
    """What a push service on loopback saw: each message's path, the number of the
    connection it came on (counted as the server accepts them, never read from a port
    the system may hand out twice), and its body."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, int, bytes]] = []
        self.accepted = 0

    def handler(self, close_silently: bool = False) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with recorder.lock:
                    recorder.accepted += 1
                    self.number = recorder.accepted

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recorder.lock:
                    recorder.requests.append((self.path, self.number, body))
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()
                # Closes after the answer without saying "Connection: close", as a
                # server does when its keep-alive time runs out.
                self.close_connection = close_silently

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @property
    def connections(self) -> int:
        with self.lock:
            return len({number for _, number, _ in self.requests})


def send_many(channel: WebPushChannel, deliveries: list[Any]) -> list[Result]:
    """Send on one loop and one pool, as the dispatcher's send loop does, one after
    another (so a connection is free again for the next)."""

    async def run() -> list[Result]:
        try:
            return [await channel.send_async(delivery) for delivery in deliveries]
        finally:
            await channel.aclose()

    return asyncio.run(run())


@pytest.fixture
def keys(session) -> VapidKeys:
    return vapid_keys(session)


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made = private_tls(tmp_path)
    # The channel trusts what the system trusts; here, the test's CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(made.ca_file))
    return made


def test_an_https_push_service_gets_the_message_over_verified_tls(keys, tls):
    recorder = Recorder()
    browser = Browser.new()
    with http_server(recorder.handler(), tls=tls.server_context) as port:
        channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)  # 127.0.0.1
        result = channel.send(deliver(browser.target(1, f"https://127.0.0.1:{port}/phone")))
        channel.close()
    assert result.outcome == "sent", result
    ((path, _, body),) = recorder.requests
    assert path == "/phone"
    assert browser.decrypt(body)["body"] == "Time for your daily check-in"


def test_a_certificate_for_another_name_is_refused_and_retried(keys, tls):
    """The certificate names 127.0.0.1; the endpoint names localhost, which resolves
    there: TLS checks the name the URL gives, not the address connected to."""
    recorder = Recorder()
    browser = Browser.new()
    with http_server(recorder.handler(), tls=tls.server_context) as port:
        channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
        result = channel.send(deliver(browser.target(1, f"https://localhost:{port}/phone")))
        channel.close()
    assert result.outcome == "retry"
    assert result.error == "localhost unreachable: the certificate was refused"
    assert recorder.requests == []


def test_a_certificate_from_an_unknown_authority_is_refused(keys, tmp_path):
    recorder = Recorder()
    unknown = private_tls(tmp_path)  # its CA is trusted by no one
    with http_server(recorder.handler(), tls=unknown.server_context) as port:
        channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
        browser = Browser.new()
        result = channel.send(deliver(browser.target(1, f"https://127.0.0.1:{port}/phone")))
        channel.close()
    assert (result.outcome, recorder.requests) == ("retry", [])
    assert result.error is not None and "certificate" in result.error


def test_messages_to_one_push_service_share_a_kept_alive_connection(keys):
    recorder = Recorder()
    browser = Browser.new()
    with http_server(recorder.handler()) as port:
        channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
        endpoint = f"http://127.0.0.1:{port}/phone"
        results = send_many(channel, [deliver(browser.target(1, endpoint)) for _ in range(20)])
        channel.close()
    assert [result.outcome for result in results] == ["sent"] * 20
    assert len(recorder.requests) == 20
    assert recorder.connections == 1


def test_a_connection_the_push_service_closed_is_replaced_and_nothing_is_lost(keys):
    """After each answer the service hangs up without a word: every message still
    arrives, once, each on a new connection."""
    recorder = Recorder()
    browser = Browser.new()
    with http_server(recorder.handler(close_silently=True)) as port:
        channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
        endpoint = f"http://127.0.0.1:{port}/phone"
        results = send_many(channel, [deliver(browser.target(1, endpoint)) for _ in range(10)])
        channel.close()
    assert [result.outcome for result in results] == ["sent"] * 10, [r.error for r in results]
    assert len(recorder.requests) == 10
    assert recorder.connections == 10


# --- Servers that answer wrongly, from a raw socket ---


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A server that reads a request's head and lets the test answer (or not) on the socket."""
    listeners: list[socket.socket] = []
    stop = threading.Event()

    def start(answer: Callable[[socket.socket], None]) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.05)
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except (TimeoutError, OSError):
                    continue
                with client:
                    client.settimeout(CEILING_S)
                    received = b""
                    while b"\r\n\r\n" not in received:
                        chunk = client.recv(65536)
                        if not chunk:
                            break
                        received += chunk
                    answer(client)

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


@pytest.mark.parametrize(
    ("answer", "outcome", "error"),
    [
        (b"SMTP ready\r\n\r\n", "retry", "the answer is not HTTP"),
        (b"HTTP/1.1 201 Created\r\nContent-Len", "retry", "the connection broke"),
        (b"", "retry", "the connection closed"),
        # No length: the body runs to the end of the connection, and the status stands.
        (b"HTTP/1.1 201 Created\r\nConnection: close\r\n\r\nqueued", "sent", None),
        (b"HTTP/1.0 410 Gone\r\n\r\n", "failed", "no push subscription"),
    ],
    ids=["not-http", "cut-in-the-head", "closed-at-once", "body-to-the-end", "http-1.0-gone"],
)
def test_an_answer_cut_short_or_not_http_is_retried_and_a_whole_one_stands(
    keys, raw_server, answer, outcome, error
):
    def respond(client: socket.socket) -> None:
        client.sendall(answer)
        client.shutdown(socket.SHUT_WR)

    port = raw_server(respond)
    channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
    result = channel.send(deliver(Browser.new().target(1, f"http://127.0.0.1:{port}/phone")))
    channel.close()
    assert result.outcome == outcome
    if error is None:
        assert result.error is None
    else:
        assert result.error is not None and result.error.endswith(error), result.error


def test_the_request_is_well_formed_http(keys):
    """What goes on the wire, read raw: the request line, Host with the port, the
    length of exactly the body sent."""
    heads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        client, _ = listener.accept()
        with client:
            client.settimeout(CEILING_S)
            data = b""
            while b"\r\n\r\n" not in data:
                data += client.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":", 1)[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            while len(body) < length:
                body += client.recv(65536)
            heads.append(head + b"\r\n\r\n" + body)
            client.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    browser = Browser.new()
    channel = WebPushChannel(keys.private_pem, SUBJECT, allow_insecure=True)
    result = channel.send(deliver(browser.target(1, f"http://localhost:{port}/p/a b?x=1")))
    channel.close()
    thread.join(CEILING_S)
    listener.close()
    assert result.outcome == "sent"
    (raw,) = heads
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /p/a%20b?x=1 HTTP/1.1"
    fields = {
        name.lower(): value.strip() for name, value in (line.split(b":", 1) for line in lines[1:])
    }
    assert fields[b"host"] == f"localhost:{port}".encode()
    assert int(fields[b"content-length"]) == len(body)
    assert browser.decrypt(body)["tag"] == "reminder-42"
