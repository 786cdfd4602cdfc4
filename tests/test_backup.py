"""`aftercare backup PATH` as an IT person runs it: while the app writes, then restored.

Each test runs on the database the suite runs on: an SQLite file (the online backup
API), or PostgreSQL (`pg_dump`, restored with `pg_restore` into a fresh database).
"""

import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from aftercare.app import create_app
from aftercare.cli import app
from aftercare.db import make_engine, normalise_url
from aftercare.settings import Settings
from tests.conftest import ON_POSTGRES, PG_URL

runner = CliRunner()
ENGINE = "PostgreSQL" if ON_POSTGRES else "SQLite"
ALIAS = "Q.Z."


@pytest.fixture
def cli_env(database_url, engine):
    return {"AFTERCARE_DATABASE_URL": database_url, "AFTERCARE_DEMO": "0"}


def run(args, env):
    result = runner.invoke(app, args, env=env)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result


def wait_until(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.05)


def checkin(checkin_id: str) -> dict[str, object]:
    return {
        "id": checkin_id, "recorded_at": datetime.now(UTC).isoformat(),
        "pain": 4, "temperature_c": 37.2, "bleeding": "spotting", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": "private words",
    }  # fmt: skip


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.endswith(".partial")]


@contextmanager
def app_on(backup: Path, settings: Settings) -> Iterator[TestClient]:
    """A fresh app on the restored backup, as after a disaster."""
    with restored_database(backup) as url:
        engine = make_engine(url)
        try:
            restored = settings.model_copy(update={"database_url": url})
            with TestClient(create_app(restored, engine)) as client:
                yield client
        finally:
            engine.dispose()


@contextmanager
def restored_database(backup: Path) -> Iterator[str]:
    if not ON_POSTGRES:
        assert sqlite3.connect(backup).execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        yield f"sqlite:///{backup}"
        return
    # docs/deploy.md's restore: a new, empty database, then pg_restore into it.
    base = make_url(normalise_url(PG_URL))
    admin = base.set(drivername="postgresql", database="postgres")
    target = base.set(database=f"aftercare_restore_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target.database}"')
    try:
        restore = subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "--dbname",
             target.set(drivername="postgresql").render_as_string(hide_password=False),
             str(backup)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert restore.returncode == 0, restore.stderr
        yield target.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')


def checkin_ids(client: TestClient, patient_id: str, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    while True:
        page = client.get(
            f"/api/v1/patients/{patient_id}/checkins",
            params={"limit": 500, "offset": len(ids)},
            headers=headers,
        )
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        if not items:
            return ids
        ids += [item["id"] for item in items]


def test_backup_while_checkins_are_written_restores_every_checkin_up_to_one_moment(
    factory, client, database_url, settings, tmp_path
):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, alias=ALIAS)
    patient = factory.patient_headers(enrolment)
    acknowledged: list[str] = []
    problems: list[BaseException] = []
    stop = threading.Event()

    def keep_checking_in() -> None:
        try:
            while not stop.is_set():
                checkin_id = str(uuid.uuid4())
                answer = client.post(
                    "/api/v1/me/checkins", json=checkin(checkin_id), headers=patient
                )
                assert answer.status_code == 201, answer.text
                acknowledged.append(checkin_id)
        except BaseException as exc:
            problems.append(exc)

    backup = tmp_path / "backups" / "aftercare.backup"
    backup.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATABASE_URL"] = database_url
    writing = threading.Thread(target=keep_checking_in, daemon=True)
    writing.start()
    try:
        wait_until(lambda: len(acknowledged) >= 5 or bool(problems))
        before = len(acknowledged)
        # A separate process, as cron runs it.
        command = subprocess.run(
            [sys.executable, "-m", "aftercare", "backup", str(backup)],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        after = len(acknowledged)
        wait_until(lambda: len(acknowledged) >= after + 5 or bool(problems))
    finally:
        stop.set()
        writing.join(timeout=60)
    assert not problems, problems
    assert command.returncode == 0, command.stderr
    assert after > before, "the app went on taking check-ins while the backup ran"

    size = backup.stat().st_size
    assert command.stdout.strip() == f"Wrote {backup} ({size:,} bytes, {ENGINE}, checked)."
    assert "Traceback" not in command.stderr
    assert ALIAS not in command.stdout + command.stderr
    assert "private words" not in command.stdout + command.stderr
    assert mode(backup) == 0o600, "a backup holds health data: its owner reads it, nobody else"
    assert os.listdir(backup.parent) == [backup.name], "nothing half-written is left beside it"

    with app_on(backup, settings) as restored:
        # The nurse's token is in the copy too: the restored app knows her.
        found = restored.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers)
        assert found.status_code == 200, found.text
        assert found.json()["alias"] == ALIAS
        in_backup = checkin_ids(restored, enrolment.id, nurse.headers)
    # One moment's database: exactly the first check-ins, every one acknowledged
    # before the command started, none half-stored (at most one was in flight at the end).
    assert before <= len(in_backup) <= after + 1
    assert sorted(in_backup) == sorted(acknowledged[: len(in_backup)])


def test_backup_refuses_to_overwrite_a_file_without_force(cli_env, tmp_path):
    existing = tmp_path / "monday.backup"
    existing.write_text("last week's backup")
    existing.chmod(0o644)
    refused = run(["backup", str(existing)], cli_env)
    assert refused.exit_code == 2
    assert refused.output == f"error: {existing} exists; add --force to replace it\n"
    assert existing.read_text() == "last week's backup"
    assert leftovers(tmp_path) == []

    replaced = run(["backup", "--force", str(existing)], cli_env)
    assert replaced.exit_code == 0, replaced.output
    assert existing.read_text(errors="replace") != "last week's backup"
    assert mode(existing) == 0o600, "the replaced file is private too"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("no-such-folder/aftercare.backup", "No such file or directory"),
        ("a-file/aftercare.backup", "Not a directory"),
    ],
)
def test_backup_to_an_unwritable_path_is_one_clear_line(cli_env, tmp_path, where, reason):
    (tmp_path / "a-file").write_text("")
    path = tmp_path / where
    result = run(["backup", str(path)], cli_env)
    assert result.exit_code == 1
    assert result.output == f"error: cannot write {path}: {reason}\n"


def test_backup_to_a_folder_asks_for_a_file_name(cli_env, tmp_path):
    result = run(["backup", "--force", str(tmp_path)], cli_env)
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path} is a folder; give a file name\n"


def test_backup_without_database_client_tools_on_path(cli_env, tmp_path):
    """SQLite needs no program; PostgreSQL's backups are pg_dump's, and it says so."""
    env = {**cli_env, "PATH": str(tmp_path / "empty")}
    backup = tmp_path / "aftercare.backup"
    result = run(["backup", str(backup)], env)
    if ON_POSTGRES:
        assert result.exit_code == 2
        assert result.output == (
            "error: PostgreSQL backups are made with pg_dump, which is not on PATH: "
            "install the PostgreSQL client tools (see docs/deploy.md, Backups)\n"
        )
        assert not backup.exists() and leftovers(tmp_path) == []
    else:
        assert result.exit_code == 0, result.output
        assert mode(backup) == 0o600


def test_backup_says_why_when_the_database_cannot_be_read(tmp_path):
    """A PostgreSQL nobody answers at, or an SQLite file that is not there."""
    if ON_POSTGRES:
        url, reason = "postgresql://postgres@127.0.0.1:1/none", "pg_dump failed: connection to"
    else:
        url, reason = f"sqlite:///{tmp_path / 'missing.db'}", "no database at"
    backup = tmp_path / "aftercare.backup"
    result = run(["backup", str(backup)], {"AFTERCARE_DATABASE_URL": url})
    assert result.exit_code != 0
    assert re.fullmatch(f"error: {reason}[^\n]*\n", result.output), result.output
    assert not backup.exists() and leftovers(tmp_path) == []
    assert not (tmp_path / "missing.db").exists(), "a backup never creates a database"


@pytest.mark.skipif(ON_POSTGRES, reason="an SQLite database is a file a backup could replace")
def test_backup_never_replaces_the_database_itself(cli_env, database_url):
    live = Path(make_url(database_url).database or "")
    before = live.read_bytes()
    result = run(["backup", "--force", str(live)], cli_env)
    assert result.exit_code == 2
    assert result.output == f"error: {live} is the database itself\n"
    assert live.read_bytes() == before


def test_backup_of_a_damaged_sqlite_file_writes_nothing(tmp_path):
    """The copy is checked before it takes its name (this file is SQLite on either run)."""
    damaged = tmp_path / "damaged.db"
    with sqlite3.connect(damaged) as db:
        db.execute("CREATE TABLE t (x TEXT)")
        db.execute("CREATE INDEX t_x ON t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [(f"row {i:05}",) for i in range(2000)])
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    # One index entry no longer matches its row: the file opens, the index lies.
    raw = bytearray(damaged.read_bytes())
    at = raw.find(b"row 01000")
    while raw[at // page_size * page_size] != 0x0A:  # an index leaf page
        at = raw.find(b"row 01000", at + 1)
    raw[at : at + 9] = b"row 0100X"
    damaged.write_bytes(raw)

    backup = tmp_path / "aftercare.backup"
    result = run(["backup", str(backup)], {"AFTERCARE_DATABASE_URL": f"sqlite:///{damaged}"})
    assert result.exit_code == 1
    assert result.output == (
        "error: the copy did not pass SQLite's integrity check; nothing written\n"
    )
    assert not backup.exists() and leftovers(tmp_path) == []
