"""The `aftercare` command as a newcomer and an IT person use it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from aftercare.cli import app
from aftercare.db import make_engine

runner = CliRunner()


@pytest.fixture
def cli_env(database_url, engine):
    return {"AFTERCARE_DATABASE_URL": database_url, "AFTERCARE_DEMO": "0"}


def run(args, env, stdin=None):
    result = runner.invoke(app, args, env=env, input=stdin)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


def test_protocol_plan_prints_the_day_by_day_plan_across_the_march_change(cli_env):
    result = run(
        ["protocol", "plan", "hymenoplasty", "--surgery-at", "2027-03-26T09:00:00+01:00",
         "--tz", "Europe/Paris"],
        cli_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Day 1 of 28 · 2027-03-26" in out
    assert "Day 28 of 28 · 2027-04-22" in out
    day2 = out.split("Day 2 of 28")[1].split("Day 3 of 28")[0]
    assert "From today you may shower with lukewarm water" in day2
    assert "Painkillers as prescribed by your clinic" in out
    assert "19:00 +01  * check-in" in out.split("Day 3 of 28")[0]
    assert "19:00 +02  * check-in" in out.split("Day 4 of 28")[1].split("Day 5 of 28")[0]


def test_protocol_plan_in_french(cli_env):
    result = run(
        ["protocol", "plan", "hymenoplasty", "--surgery-at", "2027-03-26T09:00:00+01:00",
         "--tz", "Europe/Paris", "--lang", "fr"],
        cli_env,
    )  # fmt: skip
    assert result.exit_code == 0
    assert "tiède" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["rhinoplasty", "--surgery-at", "2027-03-26T09:00:00+01:00", "--tz", "UTC"],
            "unknown procedure",
        ),
        (["hymenoplasty", "--surgery-at", "2027-03-26T09:00", "--tz", "UTC"], "--surgery-at"),
        (["hymenoplasty", "--surgery-at", "2027-03-26T09:00:00Z", "--tz", "Paris"], "--tz"),
        (
            ["hymenoplasty", "--surgery-at", "2027-03-26T09:00:00Z", "--tz", "UTC", "--lang", "de"],
            "--lang",
        ),
    ],
)
def test_protocol_plan_mistakes_are_one_clear_line(cli_env, args, words):
    result = run(["protocol", "plan", *args], cli_env)
    assert result.exit_code == 2
    assert words in result.output and "Traceback" not in result.output


def test_db_upgrade_creates_every_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run(["db", "upgrade"], {"AFTERCARE_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    tables = set(inspect(make_engine(url)).get_table_names())
    assert {"clinic", "nurse", "patient", "plan_item", "enrollment_code", "access_token"} <= tables


def test_nurse_create_reads_the_password_from_standard_input(cli_env, client):
    args = [
        "nurse",
        "create",
        "Lea@City.example",
        "--clinic",
        "city",
        "--admin",
        "--password-stdin",
    ]
    result = run(args, cli_env, stdin="a long enough password\n")
    assert result.exit_code == 0, result.output
    assert "lea@city.example" in result.output
    token = client.post(
        "/api/v1/auth/token",
        data={"username": "lea@city.example", "password": "a long enough password"},
    )
    assert token.status_code == 200
    again = run(args, cli_env, stdin="a long enough password\n")
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize(
    ("args", "stdin", "words"),
    [
        (["x@y.example", "--clinic", "city"], "a long enough password\n", "--password-stdin"),
        (["x@y.example", "--clinic", "city", "--password-stdin"], "short\n", "12 characters"),
        (
            ["not-mail", "--clinic", "city", "--password-stdin"],
            "a long enough password\n",
            "e-mail",
        ),
        (
            ["x@y.example", "--clinic", "City Clinic", "--password-stdin"],
            "a long enough pw\n",
            "--clinic",
        ),
    ],
)
def test_nurse_create_mistakes(cli_env, args, stdin, words):
    result = run(["nurse", "create", *args], cli_env, stdin=stdin)
    assert result.exit_code == 2 and words in result.output


def test_demo_is_idempotent_and_prints_how_to_sign_in(cli_env, client):
    first = run(["demo"], cli_env)
    assert first.exit_code == 0, first.output
    assert "nurse@demo.example" in first.output and "password demo-password" in first.output
    links = [line.split()[-1] for line in first.output.splitlines() if line.startswith("Patient")]
    assert len(links) == 3 and all("/start/" in link for link in links)
    second = run(["demo"], cli_env)
    assert second.exit_code == 0
    token = client.post(
        "/api/v1/auth/token", data={"username": "nurse@demo.example", "password": "demo-password"}
    ).json()["access_token"]
    patients = client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    aliases = sorted(patient["alias"] for patient in patients.json()["items"])
    assert aliases == ["A.B.", "C.D.", "E.F.", "G.H."], "a second run adds nobody"
    flags = client.get("/api/v1/flags", headers={"Authorization": f"Bearer {token}"})
    assert len(flags.json()["items"]) == 1, "G.H. checked in on a phone: one flag waits"
    # The second run's links replace the first's.
    old_code = links[0].rsplit("/", 1)[1]
    assert client.post("/api/v1/enroll", json={"code": old_code}).status_code == 400
    new_links = [
        line.split()[-1] for line in second.output.splitlines() if line.startswith("Patient")
    ]
    assert (
        client.post("/api/v1/enroll", json={"code": new_links[0].rsplit("/", 1)[1]}).status_code
        == 200
    )


def test_serve_refuses_the_default_secret_key_outside_demo_mode(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "aftercare", "serve", "--port", "1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert "AFTERCARE_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_settings_are_named_without_a_traceback(tmp_path: Path):
    result = run(["db", "upgrade"], {"AFTERCARE_DISPATCH_INTERVAL_S": "often"})
    assert result.exit_code == 1
    assert "AFTERCARE_DISPATCH_INTERVAL_S" in result.output


def test_worker_sends_due_reminders_without_a_web_server(database_url, factory, client, tmp_path):
    import time

    from sqlmodel import Session, select

    from aftercare.db import make_engine
    from aftercare.reminders.models import Reminder

    headers = factory.patient_headers(factory.enrolment(factory.nurse()))
    assert client.post("/api/v1/me/test-notification", headers=headers).status_code == 202
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DATABASE_URL=database_url, AFTERCARE_SECRET_KEY="worker-test",
               AFTERCARE_DISPATCH_INTERVAL_S="0.5")  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "aftercare", "worker"], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    engine = make_engine(database_url)
    try:
        # However slow the machine, the worker gets up to five minutes to start and send.
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline and worker.poll() is None:
            with Session(engine) as session:
                status = session.exec(
                    select(Reminder.status).where(Reminder.purpose == "test")
                ).first()
            if status == "sent":
                break
            time.sleep(0.2)
        assert status == "sent"
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=120)
        engine.dispose()
    assert "Dispatching every 0.5 s" in output
    assert "Traceback" not in output
