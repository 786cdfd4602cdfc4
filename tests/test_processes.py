"""A clinic's processes: `aftercare serve` runs the background jobs, or leaves them to
workers (`--no-jobs`, `AFTERCARE_JOBS=0`); pool sizes are settings."""

import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from aftercare.db import make_engine
from tests.live import free_port


def _jobs_in_process(database_url: str, *flags: str, **env: str) -> str:
    port = free_port()
    environment = {
        **os.environ,
        "AFTERCARE_DATABASE_URL": database_url,
        "AFTERCARE_SECRET_KEY": "processes-" + uuid.uuid4().hex,
        "AFTERCARE_LOG_LEVEL": "warning",
        **env,
    }
    command = [sys.executable, "-m", "aftercare", "serve", "--port", str(port), *flags]
    process = subprocess.Popen(command, env=environment, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, "the server stopped"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/metrics", timeout=5
                ) as answer:
                    text = answer.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        line = next(line for line in text.splitlines() if line.startswith("aftercare_jobs_in"))
        return str(line.split()[-1])
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [((), {}, "1.0"), (("--no-jobs",), {}, "0.0"), ((), {"AFTERCARE_JOBS": "0"}, "0.0")],
    ids=["default", "no-jobs", "setting"],
)
def test_serve_runs_the_jobs_unless_told_to_leave_them_to_workers(
    database_url, flags, env, expected
):
    assert _jobs_in_process(database_url, *flags, **env) == expected


def test_the_postgresql_pool_size_is_a_setting():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none", pool_size=3, max_overflow=4)
    assert engine.pool.size() == 3  # type: ignore[attr-defined]
    assert engine.pool._max_overflow == 4  # type: ignore[attr-defined]


@pytest.fixture
def fresh_database_url(tmp_path):
    """An empty database of the suite's kind, made for the test and dropped after it."""
    from sqlalchemy.engine import make_url

    from tests.conftest import ON_POSTGRES, PG_URL

    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    import psycopg

    name = f"aftercare_fresh_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_URL).set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_processes_starting_together_migrate_once(fresh_database_url):
    from sqlalchemy import text

    from aftercare.migrations.runner import upgrade

    environment = {**os.environ, "AFTERCARE_DATABASE_URL": fresh_database_url}
    command = [sys.executable, "-m", "aftercare", "db", "upgrade"]
    processes = [
        subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=300)[0].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    upgrade(fresh_database_url)  # nothing left to do
    engine = make_engine(fresh_database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
