"""The logs of a whole session hold none of its private strings (issue: no private data
in any log line, on any error), and every line is JSON with the agreed fields.

A real `aftercare serve` process is driven as its users would drive it: a patient
enrolled by link and one by the API, check-ins with notes, messages both ways, the
calendar feed, a failed e-mail, a nurse in the console, and a database error forced in
the middle. Then its whole output is searched.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path

from sqlalchemy import text

from aftercare.accounts.service import create_nurse, get_or_create_clinic
from aftercare.db import session_scope
from tests.conftest import ON_POSTGRES
from tests.live import free_port, send

PASSWORD = "a long and private passphrase 4417"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """One browser (cookies kept) or one API client (a bearer token)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base
        self.token = token
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def call(
        self, method: str, path: str, body: object = None, form: dict[str, str] | None = None
    ) -> tuple[int, str]:
        headers = {"Accept-Language": "en"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return send(self.base + path, method, body, form, headers, self.opener)

    def csrf(self, path: str) -> str:
        status, page = self.call("GET", path)
        assert status == 200, (path, status)
        found = CSRF.search(page)
        assert found, path
        return found.group(1)


def _checkin(note: str, **changes: object) -> dict[str, object]:
    body = {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(UTC).isoformat(), "pain": 8,
        "temperature_c": 38.9, "bleeding": "heavy", "discharge": "none", "urination": "normal",
        "allergy": "none", "nausea": True, "wants_contact": True, "note": note,
    }  # fmt: skip
    body.update(changes)
    return body


def _wait_until_up(base: str, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, output.read_text()
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not start:\n" + output.read_text())


def _force_a_database_error(engine, on: bool) -> None:
    """A trigger that refuses every new message: the database fails mid-request."""
    with engine.begin() as conn:
        if ON_POSTGRES:
            if on:
                conn.execute(text(
                    "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'forced by the test'; END $$ LANGUAGE plpgsql"
                ))  # fmt: skip
                conn.execute(text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON message "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                ))  # fmt: skip
            else:
                conn.execute(text("DROP TRIGGER IF EXISTS refuse ON message"))
                conn.execute(text("DROP FUNCTION IF EXISTS refuse()"))
        elif on:
            conn.execute(text(
                "CREATE TRIGGER refuse BEFORE INSERT ON message "
                "BEGIN SELECT RAISE(ABORT, 'forced by the test'); END"
            ))  # fmt: skip
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse"))


def test_a_whole_session_leaves_nothing_private_in_the_logs(database_url, engine, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    closed_port = free_port()  # a mail relay that is not there: the e-mail fails
    output = tmp_path / "server.log"
    nurse_email = f"nurse.{uuid.uuid4().hex[:6]}@clinic.example"
    with session_scope(engine) as session:
        create_nurse(session, nurse_email, PASSWORD, get_or_create_clinic(session, "west"))
    env = {
        **os.environ,
        "AFTERCARE_DATABASE_URL": database_url,
        "AFTERCARE_SECRET_KEY": "log-test-" + uuid.uuid4().hex,
        "AFTERCARE_BASE_URL": base,
        "AFTERCARE_SMTP_URL": f"smtp://127.0.0.1:{closed_port}",
        "AFTERCARE_DISPATCH_INTERVAL_S": "1",
        "AFTERCARE_LOG_LEVEL": "info",
    }
    private: list[str] = [nurse_email, PASSWORD, "hymenoplasty"]
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "aftercare", "serve", "--port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_until_up(base, process, output)
        private += _drive_a_session(base, nurse_email, engine)
    finally:
        _force_a_database_error(engine, on=False)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)

    log = output.read_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) > 30, log
    records = [json.loads(line) for line in lines]  # every line is JSON
    requests = [r for r in records if r["event"] == "request"]
    for record in requests:
        assert {"time", "level", "request_id", "method", "route", "status", "duration_ms"} <= set(
            record
        )
    routes = {r["route"] for r in requests}
    assert {"/start/{code}", "/calendar/{token}.ics", "/api/v1/me/checkins"} <= routes
    failed = [r for r in records if r.get("error") and r["level"] == "error"]
    assert failed and all(r.get("where") for r in failed), "the forced error is logged"
    assert any(r["status"] == 500 for r in requests)
    assert any(r["event"] == "e-mail not sent" for r in records)
    for secret in private:
        assert secret.lower() not in log.lower(), f"a private string reached the log: {secret!r}"


def _drive_a_session(base: str, nurse_email: str, engine) -> list[str]:
    """Everything a day of use does; returns the private strings it used."""
    alias = f"Leyla Private{uuid.uuid4().hex[:4]}"
    email = f"leyla.{uuid.uuid4().hex[:6]}@mail.example"
    notes = [f"pain since the stitches {uuid.uuid4().hex[:6]}" for _ in range(3)]
    texts = [f"can I shower {uuid.uuid4().hex[:6]}" for _ in range(4)]
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()

    status, answer = Visitor(base).call(
        "POST", "/api/v1/auth/token", form={"username": nurse_email, "password": PASSWORD}
    )
    assert status == 200, answer
    nurse = Visitor(base, json.loads(answer)["access_token"])
    wrong = Visitor(base).call(
        "POST", "/api/v1/auth/token", form={"username": nurse_email, "password": "not it"}
    )
    assert wrong[0] == 401

    def enrol(name: str) -> dict[str, str]:
        body = {"alias": name, "protocol": "hymenoplasty", "surgery_at": surgery,
                "timezone": "Europe/Istanbul", "language": "en", "email": email}  # fmt: skip
        status, answer = nurse.call("POST", "/api/v1/patients", body)
        assert status == 201, answer
        enrolled: dict[str, str] = json.loads(answer)
        return enrolled

    by_link, by_api = enrol(alias), enrol(alias + " B")
    secrets = [alias, email, *notes, *texts, by_link["enrollment_code"], by_api["enrollment_code"]]

    # The first patient opens the link and uses the pages.
    phone = Visitor(base)
    start = f"/start/{by_link['enrollment_code']}"
    status, _ = phone.call("POST", start, form={"csrf_token": phone.csrf(start)})
    assert status == 200
    token = phone.csrf("/checkin")
    form = {"csrf_token": token, "pain": "9", "bleeding": "heavy", "discharge": "none",
            "urination": "normal", "allergy": "none", "nausea": "false",
            "wants_contact": "true", "note": notes[0], "id": str(uuid.uuid4()),
            "recorded_at": datetime.now(UTC).isoformat()}  # fmt: skip
    assert phone.call("POST", "/checkin", form=form)[0] == 200
    assert phone.call("POST", "/messages", form={"csrf_token": token, "body": texts[0]})[0] == 200
    assert phone.call("POST", "/settings/test", form={"csrf_token": token})[0] in {200, 429}

    # The second patient's app uses the API.
    status, answer = Visitor(base).call(
        "POST", "/api/v1/enroll", {"code": by_api["enrollment_code"]}
    )
    assert status == 200, answer
    device_token = json.loads(answer)["access_token"]
    app = Visitor(base, device_token)
    for note in notes[1:]:
        assert app.call("POST", "/api/v1/me/checkins", _checkin(note))[0] == 201
    assert app.call("POST", "/api/v1/me/messages", {"body": texts[1]})[0] == 201
    assert app.call("PATCH", "/api/v1/me", {"channels": ["email"]})[0] == 200
    assert app.call("POST", "/api/v1/me/test-notification")[0] == 202
    status, answer = app.call("GET", "/api/v1/me/calendar")
    feed = json.loads(answer)["url"]
    assert app.call("GET", urllib.parse.urlsplit(feed).path)[0] == 200
    secrets += [device_token, nurse.token or "", urllib.parse.urlsplit(feed).path.split("/")[-1]]

    # The nurse reads and answers, by the API and in the console.
    patient_id = by_api["id"]
    assert nurse.call("GET", f"/api/v1/patients/{patient_id}/messages")[0] == 200
    assert (
        nurse.call("POST", f"/api/v1/patients/{patient_id}/messages", {"body": texts[2]})[0] == 201
    )
    console = Visitor(base)
    sign_in = {"csrf_token": console.csrf("/console/sign-in"), "email": nurse_email,
               "password": PASSWORD}  # fmt: skip
    assert console.call("POST", "/console/sign-in", form=sign_in)[0] == 200
    reply = f"/console/patients/{by_link['id']}/messages"
    sent = console.call("POST", reply, form={"csrf_token": console.csrf(reply), "body": texts[3]})
    assert sent[0] == 200

    # The database fails in the middle of a message; the app answers 500, says nothing.
    _force_a_database_error(engine, on=True)
    refused = app.call("POST", "/api/v1/me/messages", {"body": texts[1] + " again"})
    assert refused[0] == 500 and texts[1] not in refused[1]
    _force_a_database_error(engine, on=False)
    assert app.call("GET", "/api/v1/me/messages")[0] == 200

    # The dispatcher tries the e-mail (the relay is not there) within a few of its rounds:
    # waited for up to five minutes, however slow the machine.
    deadline = time.monotonic() + 300
    while True:
        with engine.connect() as conn:
            tried = conn.execute(
                text("SELECT count(*) FROM reminder WHERE channel = 'email' AND attempts > 0")
            ).scalar()
        if tried:
            break
        assert time.monotonic() < deadline, "the dispatcher never tried the e-mail"
        time.sleep(0.5)
    return secrets
