"""A server killed mid-burst loses no acknowledged check-in, and stores none twice.

A real `aftercare serve` process takes check-ins from several phones at once (threads,
each with its own connection); once enough have been answered it is killed with SIGKILL,
no chance to finish anything. Started again on the same database, it must hold every
check-in it answered 2xx, exactly once; and the phones, resending everything of theirs
(the answered ones and those cut off), must get each stored once: the id made on the
phone makes a resend harmless. Three kills in a row.
"""

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aftercare.accounts.service import create_nurse, get_or_create_clinic
from aftercare.db import session_scope
from tests.live import free_port, send

PASSWORD = "a long passphrase for the kill test 5521"
PHONES = 4
KILLS = 3
# The server is killed once this many check-ins of the round have been answered.
ACKNOWLEDGED_BEFORE_KILL = (25, 60, 110)
# A burst ends at the kill; this only bounds it should the kill never come.
MOST_PER_ROUND = 5000
CEILING_S = 300  # a wait's ceiling: generous, so that a slow machine never decides


class Server:
    """`aftercare serve` in its own process, on its own port and database."""

    def __init__(self, database_url: str, folder: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output = folder / "server.log"
        self.folder = folder
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")},
            "AFTERCARE_DATABASE_URL": database_url,
            "AFTERCARE_SECRET_KEY": "kill-test-" + uuid.uuid4().hex,
            "AFTERCARE_BASE_URL": self.base,
            "AFTERCARE_LOG_LEVEL": "warning",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.output.open("a") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "aftercare", "serve", "--port", str(self.port)],
                env=self.env, cwd=self.folder, stdout=sink, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output.read_text()
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)  # poll again; the condition is the server answering
        raise AssertionError("the server did not start:\n" + self.output.read_text())

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=CEILING_S) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=CEILING_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=CEILING_S)

    def call(self, method: str, path: str, body: object = None, token: str | None = None,
             form: dict[str, str] | None = None) -> tuple[int, object]:  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, text = send(self.base + path, method, body, form, headers, timeout=CEILING_S)
        if status >= 400:
            return status, text
        return status, json.loads(text or "null")


def _checkin(number: int) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(UTC).isoformat(),
        "pain": number % 4, "temperature_c": 36.8, "bleeding": "none", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": f"check-in {number}",
    }  # fmt: skip


@dataclass
class Burst:
    """Phones sending check-ins at once; what each got back, by check-in id."""

    server: Server
    token: str
    sent: dict[str, dict[str, object]] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)  # id -> 200 or 201
    cut_off: set[str] = field(default_factory=set)  # no answer: the server went away
    refused: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.progress = threading.Condition(self.lock)

    def run(self, bodies: Iterable[dict[str, object]]) -> list[threading.Thread]:
        queue = iter(bodies)
        phones = [
            threading.Thread(target=self._phone, args=(queue,), daemon=True) for _ in range(PHONES)
        ]
        for phone in phones:
            phone.start()
        return phones

    def _next(self, queue: Iterator[dict[str, object]]) -> dict[str, object] | None:
        with self.lock:
            body = next(queue, None)
            if body is not None:
                self.sent[str(body["id"])] = body
            return body

    def _phone(self, queue: Iterator[dict[str, object]]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=CEILING_S)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            while (body := self._next(queue)) is not None:
                checkin_id = str(body["id"])
                try:
                    connection.request("POST", "/api/v1/me/checkins", json.dumps(body), headers)
                    response = connection.getresponse()
                    answer = response.read()
                except (OSError, http.client.HTTPException):
                    with self.progress:
                        self.cut_off.add(checkin_id)
                        self.progress.notify_all()
                    return  # the server is gone; this phone stops
                with self.progress:
                    if 200 <= response.status < 300 and json.loads(answer)["id"] == checkin_id:
                        self.acknowledged[checkin_id] = response.status
                    else:
                        self.refused.append((response.status, answer.decode()))
                    self.progress.notify_all()
        finally:
            connection.close()

    def wait_for(self, acknowledged: int) -> None:
        with self.progress:
            assert self.progress.wait_for(
                lambda: len(self.acknowledged) >= acknowledged or self.refused, CEILING_S
            ), f"only {len(self.acknowledged)} check-ins answered"
        assert not self.refused, self.refused[:3]


def _stored_ids(server: Server, token: str) -> list[str]:
    ids: list[str] = []
    offset = 0
    while True:
        status, page = server.call("GET", f"/api/v1/me/checkins?limit=500&offset={offset}",
                                   token=token)  # fmt: skip
        assert status == 200, page
        items = page["items"]  # type: ignore[index]
        ids += [item["id"] for item in items]
        if len(items) < 500:
            return ids
        offset += 500


def _enrol_patient(server: Server, engine) -> str:
    email = f"nurse.{uuid.uuid4().hex[:6]}@kill.example"
    with session_scope(engine) as session:
        create_nurse(session, email, PASSWORD, get_or_create_clinic(session, "kill"))
    status, answer = server.call(
        "POST", "/api/v1/auth/token", form={"username": email, "password": PASSWORD}
    )
    assert status == 200, answer
    nurse = answer["access_token"]  # type: ignore[index]
    body = {"alias": "K.T.", "protocol": "hymenoplasty", "timezone": "Europe/Paris",
            "surgery_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "language": "en", "email": None}  # fmt: skip
    status, enrolment = server.call("POST", "/api/v1/patients", body, token=nurse)
    assert status == 201, enrolment
    code = enrolment["enrollment_code"]  # type: ignore[index]
    status, device = server.call("POST", "/api/v1/enroll", {"code": code})
    assert status == 200, device
    return str(device["access_token"])  # type: ignore[index]


def test_killed_mid_burst_the_server_keeps_every_answered_checkin_once(
    database_url, engine, tmp_path
):
    server = Server(database_url, tmp_path)
    server.start()
    figures = []
    try:
        token = _enrol_patient(server, engine)
        every_id: set[str] = set()
        numbers = itertools.count()
        for kill in range(KILLS):
            burst = Burst(server, token)
            bodies = (_checkin(next(numbers)) for _ in range(MOST_PER_ROUND))
            phones = burst.run(bodies)
            burst.wait_for(ACKNOWLEDGED_BEFORE_KILL[kill])
            server.kill()
            for phone in phones:
                phone.join(timeout=CEILING_S)
                assert not phone.is_alive(), "a phone still waits on a dead server"
            assert not burst.refused, burst.refused[:3]
            assert burst.cut_off, "the kill came after the burst, not in the middle of it"
            server.start()

            stored = Counter(_stored_ids(server, token))
            assert all(count == 1 for count in stored.values()), "a check-in stored twice"
            lost = [checkin_id for checkin_id in burst.acknowledged if checkin_id not in stored]
            assert not lost, f"{len(lost)} answered check-ins lost by the kill"
            # Cut off in flight, some were stored all the same: the resend must find them.
            in_flight_stored = len(burst.cut_off & set(stored))

            # The phones resend all they sent this round: answered or cut off, each once.
            resend = Burst(server, token)
            for phone in resend.run(list(burst.sent.values())):
                phone.join(timeout=CEILING_S)
                assert not phone.is_alive()
            assert not resend.refused and not resend.cut_off, resend.refused[:3]
            assert set(resend.acknowledged) == set(burst.sent)
            assert {resend.acknowledged[i] for i in burst.acknowledged} <= {200}, (
                "an answered check-in was not recognised when sent again"
            )
            every_id |= set(burst.sent)
            stored = Counter(_stored_ids(server, token))
            assert set(stored) == every_id and set(stored.values()) == {1}
            figures.append(
                (len(burst.acknowledged), len(burst.cut_off), in_flight_stored, len(stored))
            )
    finally:
        server.stop()
    print(f"kills survived: {KILLS}; per round (answered, cut off, of those stored, total "
          f"stored after resending): {figures}")  # fmt: skip
