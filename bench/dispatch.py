"""Reminders at real-world speed (issue 12) on PostgreSQL: each figure a ratio from one run.

    .venv/bin/python bench/dispatch.py [--url postgresql://postgres@127.0.0.1:5432/aftercare_bench]
                                       [--push 100000] [--email 20000] [--pair 20000]
                                       [--tests 1000] [--due 100000] [--future 1000000]

Real parts only: a push service on loopback (real HTTP/1.1 parsed by httptools,
answering each message after 100 ms, counting each message's Topic so a message
sent twice is seen), an SMTP relay on loopback (aiosmtpd, 20 ms a message), the dispatcher in
a process of its own with the real channels (RFC 8291 encryption, VAPID).

1. CPU floor of web push, measured here with the same libraries: encrypting one
   message (http_ece) and signing one VAPID JWT (py_vapid).
2. 1,000 patients press "send me a test notification" on a real `aftercare serve`
   (jobs on, default settings): the time until the last one reaches the push service,
   against one bare round trip to that push service (goal: 15 s, i.e. <= 150 x 100 ms).
3. 100,000 push reminders, one dispatcher, 500 sends in flight: rate against the CPU
   floor of (1) with a reused JWT (goal: 1,500/s against the issue's 4,200/s, >= 0.36).
   At 100 ms a message 1,500/s needs at least 150 in flight (Little's law) and 2,800/s
   (0.36 of this machine's floor) 280; the default, 50, tops out at 500/s: that is (4).
   The channel encrypts with its own RFC 8291 code; the floor stays http_ece's, the
   library the issue measured it with.
4. The same with two dispatchers against one, at the default 50 in flight (goal >= 1.6).
5. E-mail, one dispatcher, 8 SMTP connections: rate against a bare smtplib loop on one
   kept-open connection to the same relay (goal: 300/s at 20 ms a message, i.e. >= 6 x).
6. The no-op sweep of 100,000 due reminders (in-process, a channel that does nothing)
   against a bare FOR UPDATE SKIP LOCKED claim-and-mark loop in SQL on the same table
   (goal <= 3 x), and beside 1,000,000 rows not yet due (goal <= 1.2 x alone).
"""

import argparse
import asyncio
import base64
import json
import os
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import http_ece  # type: ignore[import-untyped]
import httptools
import psycopg
import uvloop
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from figures import record, reset
from py_vapid import Vapid  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from aftercare.db import make_engine, normalise_url
from aftercare.migrations.runner import upgrade
from aftercare.reminders.dispatcher import Dispatcher, InAppChannel
from aftercare.settings import Settings
from aftercare.writer import make_writer

BENCH = "dispatch"
PATIENTS = 1_000
PUSH_LATENCY_S = 0.1
RELAY_LATENCY_S = 0.02
# Sends in flight for the one-dispatcher push throughput (AFTERCARE_DISPATCH_CONCURRENCY).
FLIGHT = 500
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
PAYLOAD = json.dumps(
    {"title": "Care", "body": "You have a new reminder", "url": "https://x/today", "tag": "r1"}
).encode()


def conninfo(url: str) -> str:
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(False)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- The browser's keys and the CPU floor ---


@dataclass
class BrowserKeys:
    p256dh: str
    auth: str

    @classmethod
    def new(cls) -> "BrowserKeys":
        point = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        )
        return cls(b64url(point), b64url(os.urandom(16)))


def cpu_floor(keys: BrowserKeys, rounds: int = 1_000, repeats: int = 5) -> tuple[float, float]:
    """Seconds of CPU to encrypt one message (a fresh key pair, ECDH, HKDF, AES-GCM with
    http_ece) and to sign one VAPID JWT (py_vapid): the libraries the channel uses.

    Each is the best of `repeats` runs of `rounds`: a floor is what the primitive costs
    when nothing else on the machine gets in its way, so the noise of a shared machine
    (which only ever adds) is left out of it, and the ratio against it is the strict one.
    """
    point = base64.urlsafe_b64decode(keys.p256dh + "==")
    secret = base64.urlsafe_b64decode(keys.auth + "==")

    def encrypt() -> None:
        http_ece.encrypt(
            PAYLOAD,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=point,
            auth_secret=secret,
            version="aes128gcm",
        )

    vapid = Vapid(ec.generate_private_key(ec.SECP256R1()))
    claims = {"sub": "mailto:a@b.example", "aud": "https://push.example.net"}

    def sign() -> None:
        vapid.sign({**claims, "exp": int(time.time()) + 3600})

    def best(work: Any) -> float:
        runs = []
        for _ in range(repeats):
            started = time.process_time()
            for _ in range(rounds):
                work()
            runs.append((time.process_time() - started) / rounds)
        return min(runs)

    return best(encrypt), best(sign)


# --- The push service and the relay ---


@dataclass
class PushService:
    """Answers each POST after PUSH_LATENCY_S; counts topics to see any message twice."""

    port: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    last: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Serve on a thread of its own: real HTTP/1.1 with keep-alive, parsed by httptools,
        each answer 201 after PUSH_LATENCY_S. A lean server (a protocol on uvloop, no
        framework) because a real push service runs on someone else's machines: here it
        shares the two cores with the dispatcher and PostgreSQL, and should take as
        little of them as it can, not set the pace."""
        ready = threading.Event()
        service = self

        class Exchange(asyncio.Protocol):
            def __init__(self) -> None:
                self.parser = httptools.HttpRequestParser(self)
                self.topic = b""
                self.transport: Any = None

            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                try:
                    self.parser.feed_data(data)
                except httptools.HttpParserError:
                    self.transport.close()

            def on_header(self, name: bytes, value: bytes) -> None:
                if name.lower() == b"topic":
                    self.topic = value

            def on_message_complete(self) -> None:
                topic, self.topic = self.topic.decode(), b""
                asyncio.get_running_loop().call_later(PUSH_LATENCY_S, self.answer, topic)

            def answer(self, topic: str) -> None:
                with service.lock:
                    service.topics[topic] = service.topics.get(topic, 0) + 1
                    service.last = time.monotonic()
                if not self.transport.is_closing():
                    self.transport.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

        async def serve() -> None:
            server = await asyncio.get_running_loop().create_server(
                Exchange, "127.0.0.1", 0, backlog=4096
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await asyncio.Event().wait()

        def run() -> None:
            loop = uvloop.new_event_loop()
            loop.run_until_complete(serve())

        threading.Thread(target=run, daemon=True).start()
        ready.wait(30)

    def endpoint(self, n: int) -> str:
        return f"http://127.0.0.1:{self.port}/send/{n}"

    def reset(self) -> None:
        with self.lock:
            self.topics.clear()

    def counts(self) -> tuple[int, int]:
        """(messages received, messages received more than once)."""
        with self.lock:
            return sum(self.topics.values()), sum(1 for n in self.topics.values() if n > 1)


class Relay:
    """An SMTP relay taking RELAY_LATENCY_S a message."""

    def __init__(self) -> None:
        self.received = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(RELAY_LATENCY_S)
        with self.lock:
            self.received += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- The database ---


def fresh_database(url: str) -> None:
    target = make_url(normalise_url(url))
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target.database}"')
    upgrade(url)


def seed_patients(url: str, keys: BrowserKeys, push: PushService) -> list[uuid.UUID]:
    clinic = uuid.uuid4()
    patients = [uuid.uuid4() for _ in range(PATIENTS)]
    now = datetime.now(UTC)
    with psycopg.connect(conninfo(url)) as conn:
        conn.execute(
            "INSERT INTO clinic (id, slug, name, emergency_number, timezone, app_name, "
            "ack_target_minutes, created_at) "
            "VALUES (%s, 'bench', 'Bench', '112', 'UTC', 'Care', 15, %s)",
            (clinic, now),
        )
        with conn.cursor().copy(
            "COPY patient (id, clinic_id, alias, protocol_id, surgery_at, timezone, language, "
            "wake_time, sleep_time, channels, calendar_token, prescribed, protocol_version, "
            "plan_days, protocol_digest, plan_built_at, created_at, email) FROM STDIN"
        ) as copy:
            for n, patient in enumerate(patients):
                copy.write_row(
                    (
                        patient,
                        clinic,
                        f"P{n}",
                        "hymenoplasty",
                        now,
                        "UTC",
                        "en",
                        "08:00",
                        "22:00",
                        '["in-app", "push", "email"]',
                        uuid.uuid4().hex,
                        "[]",
                        1,
                        28,
                        "bench",
                        now,
                        now,
                        f"p{n}@example.org",
                    )
                )
        with conn.cursor().copy(
            "COPY push_subscription (patient_id, endpoint, p256dh, auth, created_at) FROM STDIN"
        ) as copy:
            for n, patient in enumerate(patients):
                copy.write_row((patient, push.endpoint(n), keys.p256dh, keys.auth, now))
    return patients


def add_reminders(
    url: str, patients: list[uuid.UUID], count: int, due: datetime, channel: str = "push"
) -> None:
    with (
        psycopg.connect(conninfo(url)) as conn,
        conn.cursor().copy(
            "COPY reminder (patient_id, purpose, item_key, channel, due_at, status, attempts, "
            "created_at) FROM STDIN"
        ) as copy,
    ):
        tag = uuid.uuid4().hex[:8]
        for n in range(count):
            copy.write_row(
                (
                    patients[n % len(patients)],
                    "test",
                    f"b{tag}-{n}",
                    channel,
                    due,
                    "pending",
                    0,
                    due,
                )
            )
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE reminder")


# --- Dispatchers in processes of their own ---


def child_env(url: str, concurrency: int, smtp_url: str | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "AFTERCARE_DATABASE_URL": url,
        "AFTERCARE_SECRET_KEY": "bench-" * 6,
        "AFTERCARE_PUSH_ALLOW_INSECURE": "1",
        "AFTERCARE_LOG_LEVEL": "warning",
        "AFTERCARE_DISPATCH_CONCURRENCY": str(concurrency),
    }
    if smtp_url:
        env["AFTERCARE_SMTP_URL"] = smtp_url
    return env


def run_dispatchers(
    url: str, how_many: int, concurrency: int, smtp_url: str | None = None
) -> float:
    """Seconds for `how_many` dispatcher processes to send everything due."""
    command = [sys.executable, __file__, "--child"]
    env = child_env(url, concurrency, smtp_url)
    children = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE) for _ in range(how_many)]
    starts, ends = [], []
    for child in children:
        out, _ = child.communicate(timeout=3600)
        if child.returncode != 0:
            raise SystemExit("a dispatcher failed")
        started, ended = json.loads(out)
        starts.append(started)
        ends.append(ended)
    return max(ends) - min(starts)


def child() -> None:
    """Wait for a common start, then sweep until nothing due is left; print the times."""
    from aftercare.reminders.runtime import load_vapid, make_dispatcher

    settings = Settings()
    engine = make_engine(settings.database_url)
    writer = make_writer(engine)
    dispatcher = make_dispatcher(engine, writer, settings, load_vapid(engine))
    started, cpu = time.time(), time.process_time()
    while dispatcher.sweep(datetime.now(UTC)).sent:
        pass
    ended, cpu = time.time(), time.process_time() - cpu
    print(f"dispatcher: {cpu:.1f} s of CPU in {ended - started:.1f} s", file=sys.stderr)
    dispatcher.close()
    writer.close()
    print(json.dumps([started, ended]))


# --- 2. 1,000 test notifications through a real server ---


def bare_round_trip(push: PushService) -> float:
    async def measure() -> float:
        async with aiohttp.ClientSession() as session:
            times = []
            for n in range(10):
                started = time.perf_counter()
                async with session.post(push.endpoint(n), data=b"x") as response:
                    await response.read()
                times.append(time.perf_counter() - started)
            return statistics.median(times)

    return asyncio.run(measure())


def test_notifications(
    url: str, push: PushService, keys: BrowserKeys, count: int
) -> tuple[float, int, int]:
    """(seconds from the first press to the last delivery, delivered, delivered twice)."""
    fresh_database(url)
    port = free_port()
    env = child_env(url, 50)
    password = "bench-password-1"
    subprocess.run(
        [AFTERCARE, "nurse", "create", "n@bench.example", "--clinic", "bench", "--password-stdin"],
        input=password + "\n",
        text=True,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    env = {**env, "AFTERCARE_BASE_URL": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen(
        [AFTERCARE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        tokens = asyncio.run(_enrol(base, password, keys, push, count))
        push.reset()
        asked = time.monotonic()
        asyncio.run(_press(base, tokens))
        deadline = time.monotonic() + 300
        while push.counts()[0] < count and time.monotonic() < deadline:
            time.sleep(0.05)
        delivered, twice = push.counts()
        return push.last - asked, delivered, twice
    finally:
        server.terminate()
        server.wait(60)


async def _enrol(
    base: str, password: str, keys: BrowserKeys, push: PushService, count: int
) -> list[str]:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        async with http.post(
            f"{base}/api/v1/auth/token", data={"username": "n@bench.example", "password": password}
        ) as r:
            nurse = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
        slots = asyncio.Semaphore(16)
        surgery = (datetime.now(UTC) - timedelta(days=1)).isoformat()

        async def one(n: int) -> str:
            async with slots:
                body = {
                    "alias": f"P{n}",
                    "protocol": "hymenoplasty",
                    "surgery_at": surgery,
                    "timezone": "UTC",
                    "language": "en",
                    "wake_time": "00:00",
                    "sleep_time": "23:59",
                    "email": None,
                }
                async with http.post(f"{base}/api/v1/patients", json=body, headers=nurse) as r:
                    code = (await r.json())["enrollment_code"]
                async with http.post(f"{base}/api/v1/enroll", json={"code": code}) as r:
                    token = (await r.json())["access_token"]
                me = {"Authorization": f"Bearer {token}"}
                async with http.patch(
                    f"{base}/api/v1/me", json={"channels": ["in-app", "push"]}, headers=me
                ) as r:
                    assert r.status == 200, await r.text()
                subscription = {
                    "endpoint": push.endpoint(n),
                    "keys": {"p256dh": keys.p256dh, "auth": keys.auth},
                }
                async with http.post(
                    f"{base}/api/v1/me/push-subscriptions", json=subscription, headers=me
                ) as r:
                    assert r.status == 201, await r.text()
                return str(token)

        return list(await asyncio.gather(*(one(n) for n in range(count))))


async def _press(base: str, tokens: list[str]) -> None:
    async with aiohttp.ClientSession() as http:
        slots = asyncio.Semaphore(64)

        async def one(token: str) -> None:
            async with slots:
                headers = {"Authorization": f"Bearer {token}"}
                async with http.post(f"{base}/api/v1/me/test-notification", headers=headers) as r:
                    assert r.status == 202, await r.text()

        await asyncio.gather(*(one(token) for token in tokens))


# --- 5. The bare SMTP loop ---


def bare_smtp(port: int, count: int = 200) -> float:
    """Messages a second through one kept-open smtplib connection, one after another."""
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        started = time.perf_counter()
        for n in range(count):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = (
                "r@x.example",
                f"p{n}@x.example",
                "Care",
            )
            message.set_content("You have a new reminder\n")
            smtp.send_message(message)
        return count / (time.perf_counter() - started)


# --- 6. The no-op sweep against the bare SQL loop ---


def noop_sweep(url: str) -> tuple[float, int]:
    settings = Settings(_env_file=None, database_url=url, secret_key="bench")
    engine = make_engine(url)
    writer = make_writer(engine)
    dispatcher = Dispatcher(engine, writer, {"push": InAppChannel()}, settings, name="bench")
    started = time.perf_counter()
    counts = dispatcher.sweep(datetime.now(UTC), batch=500)
    elapsed = time.perf_counter() - started
    dispatcher.close()
    writer.close()
    engine.dispose()
    return elapsed, counts.sent


BARE_CLAIM = """
UPDATE reminder SET claimed_until = %(until)s, claimed_by = 'bare'
WHERE id IN (SELECT id FROM reminder
             WHERE status = 'pending' AND due_at <= %(now)s
               AND (claimed_until IS NULL OR claimed_until <= %(now)s)
             ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED)
RETURNING id
"""
BARE_MARK = (
    "UPDATE reminder SET status = 'sent', sent_at = %(now)s, claimed_until = NULL "
    "WHERE id = ANY(%(ids)s) AND claimed_by = 'bare'"
)


def bare_loop(url: str) -> tuple[float, int]:
    """Claim 500 with FOR UPDATE SKIP LOCKED, mark them sent, until none is left."""
    done = 0
    with psycopg.connect(conninfo(url)) as conn:
        started = time.perf_counter()
        while True:
            now = datetime.now(UTC)
            with conn.transaction():
                ids = [
                    row[0]
                    for row in conn.execute(
                        BARE_CLAIM, {"now": now, "until": now + timedelta(minutes=2)}
                    )
                ]
            if not ids:
                break
            with conn.transaction():
                conn.execute(BARE_MARK, {"now": now, "ids": ids})
            done += len(ids)
        return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/aftercare_bench")
    parser.add_argument("--push", type=int, default=100_000)
    parser.add_argument("--pair", type=int, default=20_000)
    parser.add_argument("--email", type=int, default=20_000)
    parser.add_argument("--tests", type=int, default=1_000)
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--future", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return
    reset(BENCH)
    url = args.url
    keys = BrowserKeys.new()
    push = PushService()
    push.start()

    # 1. The CPU floor.
    encrypt_s, sign_s = cpu_floor(keys)
    floor_rate = 1 / encrypt_s
    print(
        f"CPU floor: encrypt {encrypt_s * 1e6:.0f} µs, sign a JWT {sign_s * 1e6:.0f} µs: "
        f"{1 / (encrypt_s + sign_s):,.0f}/s a core, {floor_rate:,.0f}/s with a reused JWT"
    )

    # 2. Test notifications through a real server.
    round_trip = bare_round_trip(push)
    took, delivered, twice = test_notifications(url, push, keys, args.tests)
    ratio = took / round_trip
    print(
        f"{args.tests:,} test notifications: last delivered {took:.1f} s after the first press "
        f"({delivered:,} delivered, {twice} twice) = {ratio:.0f} x one bare round trip "
        f"({round_trip * 1000:.0f} ms)   (goal 15 s: <= 150 x)"
    )
    record(
        BENCH,
        f"{args.tests:,} test notifications by push: first press to last delivery",
        ratio,
        "×",
        reference="one bare round trip to the same push service (100 ms)",
        goal="≤ 150× (15 s), each once",
        passed=ratio <= 150 and delivered == args.tests and not twice,
    )

    # 3. and 4. Push throughput.
    fresh_database(url)
    patients = seed_patients(url, keys, push)
    due = datetime.now(UTC) - timedelta(seconds=30)
    push.reset()
    add_reminders(url, patients, args.push, due)
    seconds = run_dispatchers(url, 1, FLIGHT)
    sent, twice = push.counts()
    rate = args.push / seconds
    # Measured again after the run, the best of both kept: on a shared machine a floor
    # measured once can land in a slow second and flatter the ratio.
    floor_rate = max(floor_rate, 1 / cpu_floor(keys)[0])
    print(
        f"{args.push:,} push reminders, one dispatcher, {FLIGHT} in flight: {seconds:.1f} s, "
        f"{rate:,.0f}/s ({sent:,} received, {twice} twice) = {rate / floor_rate:.2f} of the CPU "
        "floor   (goal 1,500/s: >= 0.36)"
    )
    record(
        BENCH,
        f"push reminders a second, one dispatcher ({FLIGHT} in flight)",
        rate / floor_rate,
        "×",
        reference=(
            f"CPU floor, encrypt with a reused JWT ({floor_rate:,.0f}/s); measured {rate:,.0f}/s"
        ),
        goal="≥ 0.36× (1,500/s of 4,200/s), each once",
        passed=rate / floor_rate >= 0.36 and sent == args.push and not twice,
    )

    rates = []
    for how_many in (1, 2):
        push.reset()
        add_reminders(url, patients, args.pair, datetime.now(UTC) - timedelta(seconds=30))
        seconds = run_dispatchers(url, how_many, 50)
        sent, twice = push.counts()
        rates.append(args.pair / seconds)
        print(
            f"{args.pair:,} push reminders, {how_many} dispatcher(s), 50 in flight each: "
            f"{seconds:.1f} s, {rates[-1]:,.0f}/s ({sent:,} received, {twice} twice)"
        )
        if sent != args.pair or twice:
            rates[-1] = float("nan")
    scaling = rates[1] / rates[0]
    print(f"two dispatchers / one: {scaling:.2f}   (goal >= 1.6)")
    record(
        BENCH,
        "push reminders a second, two dispatchers (50 in flight each)",
        scaling,
        "×",
        reference="one dispatcher, same run",
        goal="≥ 1.6×, each once",
        passed=scaling >= 1.6,
    )

    # 5. E-mail.
    relay = Relay()
    port = free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        bare = bare_smtp(port)
        relay.received = 0
        add_reminders(url, patients, args.email, datetime.now(UTC) - timedelta(seconds=30), "email")
        seconds = run_dispatchers(url, 1, 50, smtp_url=f"smtp://127.0.0.1:{port}")
    finally:
        controller.stop()
    rate = args.email / seconds
    print(
        f"{args.email:,} e-mails, one dispatcher, 8 connections: {seconds:.1f} s, {rate:,.0f}/s "
        f"({relay.received:,} received) = {rate / bare:.1f} x a bare smtplib loop "
        f"({bare:.0f}/s)   (goal 300/s: >= 6 x)"
    )
    record(
        BENCH,
        "e-mails a second, one dispatcher (8 connections)",
        rate / bare,
        "×",
        reference=f"bare smtplib loop on one kept-open connection ({bare:.0f}/s)",
        goal="≥ 6× (300/s at 20 ms)",
        passed=rate / bare >= 6 and relay.received == args.email,
    )

    # 6. The no-op sweep, each on a table of its own.
    fresh_database(url)
    patients = seed_patients(url, keys, push)
    add_reminders(url, patients, args.due, datetime.now(UTC) - timedelta(minutes=1))
    bare_alone, bare_done = bare_loop(url)
    fresh_database(url)
    patients = seed_patients(url, keys, push)
    add_reminders(url, patients, args.due, datetime.now(UTC) - timedelta(minutes=1))
    alone, sent_alone = noop_sweep(url)
    add_reminders(url, patients, args.future, datetime.now(UTC) + timedelta(days=3))
    add_reminders(url, patients, args.due, datetime.now(UTC) - timedelta(seconds=30))
    crowded, sent_crowded = noop_sweep(url)
    print(
        f"no-op sweep of {sent_alone:,} due: {alone:.2f} s; bare SKIP LOCKED loop "
        f"({bare_done:,}): {bare_alone:.2f} s = {alone / bare_alone:.2f} x   (goal <= 3)"
    )
    print(
        f"beside {args.future:,} not yet due: {crowded:.2f} s = {crowded / alone:.2f} x alone "
        "(goal <= 1.2)"
    )
    record(
        BENCH,
        "no-op sweep of 100,000 due reminders",
        alone / bare_alone,
        "×",
        reference="bare FOR UPDATE SKIP LOCKED claim-and-mark loop, same run",
        goal="≤ 3×",
        passed=alone / bare_alone <= 3 and sent_alone == args.due,
    )
    record(
        BENCH,
        "the same beside 1,000,000 reminders not yet due",
        crowded / alone,
        "×",
        reference="the sweep alone, same run",
        goal="≤ 1.2×",
        passed=crowded / alone <= 1.2 and sent_crowded == args.due,
    )


if __name__ == "__main__":
    main()
