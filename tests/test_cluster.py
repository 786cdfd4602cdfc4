"""A cluster, proven: three app processes and two workers on one PostgreSQL database.

docs/deploy.md §4 runs several `aftercare serve` processes behind a proxy and
`aftercare worker`s beside them. Here they are real: five processes started with the
real command line, a real SMTP relay (aiosmtpd on 127.0.0.1) as the e-mail channel and
a dispatch lease of a few seconds. Sixty patients are enrolled through the public API,
spread over the three apps; then each phone sends its check-in and asks for one test
notification (one per patient: one patient's reminders due in the same minute may be
sent as one message), while one app process and one worker are killed with SIGKILL.

The processes:

- app A runs the jobs (`aftercare serve`, the default), apps B and C do not
  (`--no-jobs`): both kinds of app process take part, and the dispatchers are three
  (A and the two workers), as docs/deploy.md allows;
- B is the app killed: it is killed once it has answered a few check-ins, while the
  phones still have many to send; a request that finds it gone is sent to the next app,
  as a phone behind the proxy would. A check-in is sent again with the same id even when
  the cut came after it was sent (api.md: the same id is stored once); a test
  notification has no such id, so it is sent elsewhere only when it never reached an app
  (connection refused), and when it was cut off in flight the test accepts that it was
  either queued (then mailed once) or not;
- worker W1 is the worker killed. It dispatches every 0.25 s, the others every second,
  so that it gets batches of its own; and it is killed in the middle of a delivery: the
  relay holds W1's SMTP conversation at RCPT (the message not yet handed over) on the
  first message of a batch, once W1 has sent and marked at least one e-mail before.
  The rows W1 had claimed must then go to the other dispatchers after the lease, and
  each be mailed once. (A dispatcher killed after the relay accepted a message and
  before it marked the row cannot avoid that message being sent again:
  tests/reminders/test_many_dispatchers.py bounds that case.)

At the end, with generous ceilings and no fixed sleeps: every check-in a phone got a
2xx for is stored once, no patient has two check-ins for one day, every test reminder
is marked sent, and the relay received exactly one e-mail per test notification.

PostgreSQL only: several processes on one SQLite file is not a deployment we offer.
The test makes its own database and drops it after.
"""

import asyncio
import email
import email.policy
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import make_url

from tests.conftest import ON_POSTGRES, PG_URL
from tests.live import free_port

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="a cluster of app processes and workers is a PostgreSQL deployment "
    "(docs/deploy.md §4); set AFTERCARE_TEST_DATABASE_URL=postgresql://... to run it",
)

PATIENTS = 60
PHONES = 6
PASSWORD = "a long passphrase for the cluster test 8203"
NURSE = "nurse@cluster.example.org"
LEASE_S = 5
# The killed app has answered this many check-ins first (it gets about a third of 60).
ANSWERED_BY_B_BEFORE_KILL = 5
CEILING_S = 180
TEST_TEXT = "This is a test notification. Your reminders work."


# ---------------------------------------------------------------------------------------
# The database and the processes


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def cluster_database_url() -> Iterator[str]:
    """An empty database for the cluster alone, dropped after the test."""
    name = f"aftercare_cluster_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    admin_conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


class Database:
    """The test's own look at the database: one connection, one query at a time."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(_conninfo(url), autocommit=True)
        self.lock = threading.Lock()

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        self.conn.close()


@dataclass
class Process:
    """One `aftercare` command in its own process, its output in a file."""

    name: str
    args: list[str]
    env: dict[str, str]
    folder: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "aftercare", *self.args],
                env=self.env, cwd=self.folder, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        assert self.popen.wait(timeout=60) == -signal.SIGKILL

    def stop(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=60)


def _wait_until(condition: Callable[[], bool], what: str, ceiling: float = CEILING_S) -> None:
    deadline = time.monotonic() + ceiling
    while not condition():
        assert time.monotonic() < deadline, f"after {ceiling:g} s: {what}"
        time.sleep(0.05)  # poll again; the condition decides


def _wait_healthy(app: Process) -> None:
    def answers() -> bool:
        assert app.alive(), f"{app.name} stopped:\n{app.output()[-3000:]}"
        try:
            return _exchange(app, "GET", "/healthz")[0] == 200
        except (Unreached, CutOff):
            return False

    _wait_until(answers, f"{app.name} does not answer /healthz:\n{app.output()[-3000:]}")


def _dispatcher_name(worker: Process) -> str:
    """A worker says which name it claims reminders under (`claimed_by`)."""
    found: list[str] = []

    def said() -> bool:
        assert worker.alive(), f"{worker.name} stopped:\n{worker.output()[-3000:]}"
        found[:] = re.findall(r"^Dispatching every \S+ s as (\S+?)\.$", worker.output(), re.M)
        return bool(found)

    _wait_until(said, f"{worker.name} did not start:\n{worker.output()[-3000:]}")
    return found[0]


# ---------------------------------------------------------------------------------------
# The SMTP relay


@dataclass
class Relay:
    """Accepts every message; once armed, holds one conversation of the victim at RCPT.

    `decide(address)` (run off the relay's event loop) says whether this recipient's
    message is the one to hold. The held conversation is answered only after `release`
    is set, by which time its sender is dead; the message is never handed over.
    """

    changed: threading.Condition
    decide: Callable[[str], bool] = lambda _address: False
    armed: bool = False
    held: str | None = None
    release: threading.Event = field(default_factory=threading.Event)
    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.armed and self.held is None:
            hold = await asyncio.get_running_loop().run_in_executor(None, self.decide, address)
            if hold and self.armed and self.held is None:
                with self.changed:
                    self.held = address
                    self.changed.notify_all()
                while not self.release.is_set():
                    await asyncio.sleep(0.02)
                # Its sender was killed meanwhile; were it not, a temporary refusal makes
                # it try again later rather than count this message as delivered.
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), content))
        return "250 OK"

    def recipients(self) -> Counter[str]:
        with self.lock:
            return Counter(to for rcpts, _ in self.messages for to in rcpts)

    def bodies(self) -> list[str]:
        with self.lock:
            contents = [content for _, content in self.messages]
        parsed = [email.message_from_bytes(c, policy=email.policy.default) for c in contents]
        return [str(message.get_body(("plain",)).get_content()) for message in parsed]  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------
# The phones and the nurse: HTTP to whichever app is up


class Unreached(Exception):
    """No connection was made (refused or reset): the request never reached an app."""


class CutOff(Exception):
    """The request may have been sent, and no answer came: the app went away."""


def _exchange(
    app: Process,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    assert app.port is not None
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=60)
    try:
        try:
            connection.connect()
        except OSError as exc:
            # Refused, or reset while the killed app's listening socket went away with
            # the handshake in its backlog: no byte of the request left this side.
            raise Unreached from exc
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, response.read().decode()
        except (OSError, http.client.HTTPException) as exc:
            raise CutOff from exc
    finally:
        connection.close()


@dataclass
class Client:
    """Sends each request to an app of its choosing, and to the next one on failure."""

    apps: list[Process]
    changed: threading.Condition
    answered: Counter[tuple[str, str]] = field(default_factory=Counter)  # (app, kind)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, app, how)

    def send(
        self, kind: str, first: int, method: str, path: str, *, body: object = None,
        form: dict[str, str] | None = None, token: str | None = None, resend_cut_off: bool,
    ) -> tuple[int, Any] | None:  # fmt: skip
        """The status and JSON answer; None when cut off and not to be sent again."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for step in range(len(self.apps)):
            app = self.apps[(first + step) % len(self.apps)]
            try:
                status, text = _exchange(app, method, path, data, headers)
            except Unreached:
                self._failed(kind, app, "refused")
                continue  # it never reached an app: another may take it
            except CutOff:
                self._failed(kind, app, "cut off")
                if resend_cut_off:
                    continue
                return None
            with self.changed:
                if status < 300:
                    self.answered[(app.name, kind)] += 1
                self.changed.notify_all()
            return status, (json.loads(text) if text and status < 300 else text)
        raise AssertionError(f"no app answered {kind}: {self.failures[-3:]}")

    def _failed(self, kind: str, app: Process, how: str) -> None:
        with self.changed:
            self.failures.append((kind, app.name, how))
            self.changed.notify_all()


@dataclass
class Patient:
    number: int
    email: str
    token: str
    patient_id: str


def _night_zone(now: datetime) -> str:
    """A zone where it is about 2 a.m.: no plan reminder falls due during the test.

    Only the test notifications then reach the relay, whatever the hour of the run.
    """
    offset = (2 - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-3 is UTC+3


def _enrol(client: Client, nurse: str, number: int, zone: str) -> Patient:
    """The nurse enrols on one app, the phone spends the code on the next, and turns
    e-mail reminders on through the third."""
    address = f"patient-{number:02d}@example.org"
    body = {
        "alias": f"C{number:02d}", "protocol": "hymenoplasty", "timezone": zone,
        "surgery_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "language": "en", "wake_time": "08:00", "sleep_time": "22:00", "email": address,
    }  # fmt: skip
    answer = client.send("enrolment", number, "POST", "/api/v1/patients", body=body,
                         token=nurse, resend_cut_off=False)  # fmt: skip
    assert answer is not None and answer[0] == 201, answer
    code = answer[1]["enrollment_code"]
    answer = client.send("enrol device", number + 1, "POST", "/api/v1/enroll",
                         body={"code": code}, resend_cut_off=False)  # fmt: skip
    assert answer is not None and answer[0] == 200, answer
    token, patient_id = answer[1]["access_token"], answer[1]["patient_id"]
    answer = client.send(
        "channels", number + 2, "PATCH", "/api/v1/me", body={"channels": ["email"]},
        token=token, resend_cut_off=True,
    )  # fmt: skip
    assert answer is not None and answer[0] == 200, answer
    return Patient(number, address, token, str(patient_id))


def _checkin_body() -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(UTC).isoformat(),
        "pain": 1, "temperature_c": 36.8, "bleeding": "none", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": "",
    }  # fmt: skip


def _run_threads(
    count: int, work: Callable[[], None], errors: list[BaseException], changed: threading.Condition
) -> list[threading.Thread]:
    def guarded() -> None:
        try:
            work()
        except BaseException as exc:
            with changed:
                errors.append(exc)
                changed.notify_all()

    threads = [threading.Thread(target=guarded, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


# ---------------------------------------------------------------------------------------
# The test


def test_three_apps_and_two_workers_survive_a_killed_app_and_worker(cluster_database_url, tmp_path):
    started = time.monotonic()
    changed = threading.Condition()
    relay = Relay(changed)
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    secret = "cluster-" + uuid.uuid4().hex
    base_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")},
        "AFTERCARE_DATABASE_URL": cluster_database_url,
        "AFTERCARE_SECRET_KEY": secret,
        "AFTERCARE_BASE_URL": "https://care.example.org",
        "AFTERCARE_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
        "AFTERCARE_MAIL_FROM": "reminders@care.example.org",
        "AFTERCARE_DISPATCH_LEASE_S": str(LEASE_S),
        "AFTERCARE_DISPATCH_INTERVAL_S": "1",
        # Five processes on a shared server: keep their connections few.
        "AFTERCARE_DB_POOL_SIZE": "3",
        "AFTERCARE_DB_MAX_OVERFLOW": "6",
        "AFTERCARE_LOG_LEVEL": "warning",
    }

    def process(name: str, *args: str, app: bool = False, **env: str) -> Process:
        port = free_port() if app else None
        ports = ("--host", "127.0.0.1", "--port", str(port)) if app else ()
        return Process(name, [*args, *ports], {**base_env, **env}, tmp_path, port)

    apps = [
        process("app-A", "serve", app=True),
        process("app-B", "serve", "--no-jobs", app=True),
        process("app-C", "serve", "--no-jobs", app=True),
    ]
    victim_worker = process("worker-1", "worker", AFTERCARE_DISPATCH_INTERVAL_S="0.25")
    workers = [victim_worker, process("worker-2", "worker")]
    victim_app = apps[1]
    db = Database(cluster_database_url)
    try:
        # As docs/deploy.md says: migrate once, then start every process.
        upgrade = subprocess.run(
            [sys.executable, "-m", "aftercare", "db", "upgrade"], env=base_env, cwd=tmp_path,
            capture_output=True, timeout=300,
        )  # fmt: skip
        assert upgrade.returncode == 0, upgrade.stderr.decode()[-3000:]
        created = subprocess.run(
            [sys.executable, "-m", "aftercare", "nurse", "create", NURSE, "--clinic", "cluster",
             "--password-stdin"],
            input=f"{PASSWORD}\n".encode(), env=base_env, cwd=tmp_path, capture_output=True,
            timeout=300,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr.decode()[-3000:]
        for each in [*apps, *workers]:
            each.start()
        for app in apps:
            _wait_healthy(app)
        victim_name = _dispatcher_name(victim_worker)
        other_worker_name = _dispatcher_name(workers[1])
        ready_s = time.monotonic() - started

        # Enrolment, spread over the three apps.
        client = Client(apps, changed)
        form = {"username": NURSE, "password": PASSWORD}
        answer = client.send(
            "sign-in", 0, "POST", "/api/v1/auth/token", form=form, resend_cut_off=True
        )
        assert answer is not None and answer[0] == 200, answer
        nurse = answer[1]["access_token"]
        zone = _night_zone(datetime.now(UTC))
        numbers = iter(range(PATIENTS))
        patients: list[Patient] = []
        errors: list[BaseException] = []
        take = threading.Lock()

        def enrol_some() -> None:
            while True:
                with take:
                    number = next(numbers, None)
                if number is None:
                    return
                patient = _enrol(client, nurse, number, zone)
                with take:
                    patients.append(patient)

        for thread in _run_threads(PHONES, enrol_some, errors, changed):
            thread.join(timeout=CEILING_S)
        assert not errors, errors[:3]
        assert len(patients) == PATIENTS
        patients.sort(key=lambda p: p.number)
        assert not client.failures, client.failures
        by_email = {p.email: p for p in patients}
        enrolled_s = time.monotonic() - started

        # The relay holds W1's first message of a batch once W1 has sent one before.
        def decide(address: str) -> bool:
            rows = db.rows(
                "SELECT p.email, r.status FROM reminder r JOIN patient p ON p.id = r.patient_id"
                " WHERE r.purpose = 'test' AND r.channel = 'email' AND r.claimed_by = %s",
                victim_name,
            )
            sent_before = [mail for mail, status in rows if status == "sent"]
            claimed_now = {mail for mail, status in rows if status == "pending"}
            accepted = set(relay.recipients())
            return bool(sent_before) and address in claimed_now and not claimed_now & accepted

        relay.decide = decide
        relay.armed = True

        # The phones: check-ins at once (PHONES at a time), test notifications one by one
        # while W1 lives (each waits until the last one was claimed, so that W1 gets
        # batches of its own), all at once after.
        acknowledged: dict[str, tuple[str, int]] = {}  # check-in id -> (patient id, status)
        tests: dict[int, str] = {}  # patient number -> "accepted" or "unknown"
        worker_killed = threading.Event()
        checkin_queue = iter(patients)

        def phone() -> None:
            while True:
                with take:
                    patient = next(checkin_queue, None)
                if patient is None:
                    return
                body = _checkin_body()
                answer = client.send(
                    "check-in", patient.number, "POST", "/api/v1/me/checkins", body=body,
                    token=patient.token, resend_cut_off=True,
                )  # fmt: skip
                assert answer is not None and answer[0] in (200, 201), answer
                assert answer[1]["id"] == body["id"]
                with take:
                    acknowledged[str(body["id"])] = (patient.patient_id, answer[0])

        def unclaimed_tests() -> int:
            return int(db.rows(
                "SELECT count(*) FROM reminder WHERE purpose = 'test' AND channel = 'email'"
                " AND status = 'pending' AND claimed_until IS NULL"
            )[0][0])  # fmt: skip

        def tester() -> None:
            for patient in patients:
                answer = client.send("test", patient.number, "POST",
                                     "/api/v1/me/test-notification", token=patient.token,
                                     resend_cut_off=False)  # fmt: skip
                if answer is None:
                    tests[patient.number] = "unknown"
                    continue
                assert answer[0] == 202, answer
                assert set(answer[1]["channels"]) == {"in-app", "email"}, answer
                tests[patient.number] = "accepted"
                _wait_until(
                    lambda: worker_killed.is_set() or unclaimed_tests() == 0,
                    "a test notification was never claimed by a dispatcher",
                )

        threads = [
            *_run_threads(PHONES, phone, errors, changed),
            *_run_threads(1, tester, errors, changed),
        ]

        # Kill B once it has answered a few check-ins, and W1 as soon as the relay holds it.
        answered_by_b = 0
        snapshot: dict[str, Any] = {}
        deadline = time.monotonic() + CEILING_S
        while victim_app.alive() or victim_worker.alive():
            with changed:
                changed.wait_for(
                    lambda: (victim_worker.alive() and relay.held is not None)
                    or (victim_app.alive() and client.answered[(victim_app.name, "check-in")]
                        >= ANSWERED_BY_B_BEFORE_KILL)
                    or bool(errors),
                    timeout=max(0.0, deadline - time.monotonic()),
                )  # fmt: skip
                b_count = client.answered[(victim_app.name, "check-in")]
            assert not errors, errors[:3]
            assert time.monotonic() < deadline, (
                f"no kill: relay held {relay.held!r}, B answered {b_count} check-ins"
            )
            if victim_worker.alive() and relay.held is not None:
                claimed = db.rows(
                    "SELECT r.id, r.channel, p.email FROM reminder r"
                    " JOIN patient p ON p.id = r.patient_id"
                    " WHERE r.claimed_by = %s AND r.status = 'pending'",
                    victim_name,
                )
                sent_before = db.rows(
                    "SELECT count(*) FROM reminder WHERE claimed_by = %s AND status = 'sent'"
                    " AND channel = 'email'",
                    victim_name,
                )[0][0]
                victim_worker.kill()
                relay.armed = False
                worker_killed.set()
                relay.release.set()
                snapshot.update(claimed=claimed, sent_before=sent_before, held=relay.held)
            if victim_app.alive() and b_count >= ANSWERED_BY_B_BEFORE_KILL:
                victim_app.kill()
                answered_by_b = b_count
                snapshot["checkins_at_app_kill"] = len(acknowledged)

        for thread in threads:
            thread.join(timeout=CEILING_S)
            assert not thread.is_alive(), "a phone still waits"
        assert not errors, errors[:3]
        traffic_s = time.monotonic() - started

        # Every test reminder ends sent: W1's claims come back after the lease.
        _wait_until(
            lambda: not db.rows("SELECT 1 FROM reminder WHERE purpose = 'test'"
                                " AND status = 'pending' LIMIT 1"),
            "test reminders still pending",
        )  # fmt: skip
        for each in [*apps, *workers]:
            each.stop()  # nothing may arrive at the relay after this
        settled_s = time.monotonic() - started

        # The kills came mid-run.
        assert victim_app.popen is not None and victim_app.popen.returncode == -signal.SIGKILL
        assert victim_worker.popen is not None
        assert victim_worker.popen.returncode == -signal.SIGKILL
        assert answered_by_b >= ANSWERED_BY_B_BEFORE_KILL
        assert snapshot["checkins_at_app_kill"] < PATIENTS, "B was killed after the check-ins"
        to_b = [f for f in client.failures if f[1] == victim_app.name]
        assert to_b, "no request met the killed app: it was not killed mid-run"
        assert {f[1] for f in client.failures} == {victim_app.name}, client.failures
        answering = {app for (app, kind), n in client.answered.items() if kind == "check-in"}
        assert answering == {app.name for app in apps}, "an app answered no check-in"
        assert snapshot["sent_before"] >= 1, "W1 had sent no e-mail before it was killed"
        held = snapshot["held"]
        abandoned = {row[0] for row in snapshot["claimed"]}
        assert held in {row[2] for row in snapshot["claimed"] if row[1] == "email"}

        # Check-ins: each answered one stored once, one per patient and day.
        stored = db.rows("SELECT id, patient_id FROM checkin")
        assert len(acknowledged) == PATIENTS
        assert {str(i): str(p) for i, p in stored} == {
            i: patient_id for i, (patient_id, _) in acknowledged.items()
        }, "the stored check-ins are exactly those answered, each with its patient"
        doubled_days = db.rows(
            "SELECT patient_id, day FROM checkin GROUP BY patient_id, day HAVING count(*) > 1"
        )
        assert doubled_days == [], f"{len(doubled_days)} patients have two check-ins a day"

        # Test reminders: one per patient who was answered (none or one when cut off),
        # every one sent, W1's abandoned claims by another dispatcher.
        reminders = db.rows(
            "SELECT r.id, p.email, r.channel, r.status, r.claimed_by FROM reminder r"
            " JOIN patient p ON p.id = r.patient_id WHERE r.purpose = 'test'"
        )
        assert {row[3] for row in reminders} == {"sent"}, Counter(row[3] for row in reminders)
        email_rows = Counter(row[1] for row in reminders if row[2] == "email")
        for patient in patients:
            expected = {"accepted": {1}, "unknown": {0, 1}}[tests[patient.number]]
            assert email_rows[patient.email] in expected, (patient.number, email_rows)
        for row in reminders:
            if row[0] in abandoned:
                assert row[4] not in (None, victim_name), "a claim of W1 was not taken over"
        senders = Counter(row[4] for row in reminders if row[2] == "email")

        # The relay: exactly one e-mail per test notification, to its patient.
        received = relay.recipients()
        assert received == email_rows, {
            "missing": email_rows - received, "extra": received - email_rows,
        }  # fmt: skip
        assert set(received) <= set(by_email)
        assert all(TEST_TEXT in body for body in relay.bodies())
        assert received[held] == 1
    finally:
        relay.release.set()
        for each in [*apps, *workers]:
            each.stop()
        controller.stop()
        db.close()

    others = {victim_name: "W1", other_worker_name: "W2"}
    print(
        f"cluster: ready {ready_s:.1f} s, enrolled {enrolled_s:.1f} s, traffic {traffic_s:.1f}"
        f" s, settled {settled_s:.1f} s; e-mails {sum(received.values())}; sent by "
        f"{ {others.get(k, 'A'): n for k, n in senders.items()} }; W1 had sent "
        f"{snapshot['sent_before']} and held {len(abandoned)} rows when killed; "
        f"B answered {answered_by_b} check-ins when killed; requests that met B dead: "
        f"{Counter((kind, how) for kind, _, how in to_b)}; check-ins found stored when sent "
        f"again: {sum(1 for _, status in acknowledged.values() if status == 200)}; tests cut "
        f"off: {sum(1 for v in tests.values() if v == 'unknown')}"
    )
