"""One database per test: a fresh SQLite file, or PostgreSQL emptied after each test.

Set AFTERCARE_TEST_DATABASE_URL to a PostgreSQL URL to run the suite there
(`make test` does both). An unreachable PostgreSQL fails the run; it is never skipped.
"""

import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from aftercare.app import create_app
from aftercare.checkins.service import checked_in_on
from aftercare.db import make_engine, normalise_url
from aftercare.migrations.runner import upgrade
from aftercare.models import metadata
from aftercare.protocols.loader import Protocol, load_protocols
from aftercare.reminders.channels import Delivery, Result
from aftercare.reminders.dispatcher import Dispatcher, InAppChannel
from aftercare.settings import SHIPPED_SCHEDULES_DIR, Settings
from aftercare.writer import make_writer
from tests.factories import Factory

PG_URL = os.environ.get("AFTERCARE_TEST_DATABASE_URL", "")
ON_POSTGRES = PG_URL.startswith("postgres")

# Hypothesis fails an example that takes over 200 ms by default: on a slow, busy machine
# that is the machine's speed, not the code's. No property test here has a deadline.
hypothesis_settings.register_profile("aftercare", deadline=None)
hypothesis_settings.load_profile("aftercare")


def pytest_report_header() -> str:
    return f"database: {make_url(PG_URL).render_as_string() if ON_POSTGRES else 'SQLite'}"


def _ensure_pg_database(url: str) -> None:
    target = make_url(normalise_url(url))
    admin = target.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{target.database}"')


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine | None]:
    """PostgreSQL, wiped and migrated once for the run (the schema tests use is Alembic's)."""
    if not ON_POSTGRES:
        yield None
        return
    _ensure_pg_database(PG_URL)
    engine = make_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(PG_URL)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated once; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "aftercare.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path, pg_engine: Engine | None, sqlite_template: Path) -> str:
    if pg_engine is not None:
        return pg_engine.url.render_as_string(hide_password=False)
    path = tmp_path / "aftercare.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(database_url: str, pg_engine: Engine | None) -> Iterator[Engine]:
    if pg_engine is not None:
        yield pg_engine
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        with pg_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        return
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key="test-secret-key-" + uuid.uuid4().hex,
        base_url="http://testserver",
        schedules_dir=SHIPPED_SCHEDULES_DIR,
        # The suite's push services live on 127.0.0.1 or under names that resolve nowhere
        # (push.example.net); tests/reminders/test_push_ssrf.py turns the check back on.
        push_allow_insecure=True,
    )


@pytest.fixture(scope="session")
def protocols() -> dict[str, Protocol]:
    return load_protocols(SHIPPED_SCHEDULES_DIR)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine)) as test_client:
        yield test_client


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as db_session:
        yield db_session


@pytest.fixture
def factory(engine: Engine, client: TestClient) -> Factory:
    return Factory(engine, client)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CountingChannel:
    """Records what it is asked to send; answers what the test tells it to."""

    name: str = "push"
    answers: list[str] = field(default_factory=list)
    sent: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, delivery: Delivery) -> Result:
        with self.lock:
            self.sent.append(delivery)
            outcome = self.answers.pop(0) if self.answers else "sent"
        return Result(outcome, None if outcome == "sent" else "test says so")  # type: ignore[arg-type]


@pytest.fixture
def counting() -> CountingChannel:
    return CountingChannel()


@pytest.fixture
def dispatcher(engine, settings, counting) -> Iterator[Dispatcher]:
    writer = make_writer(engine)
    channels = {"push": counting, "email": CountingChannel(name="email"), "in-app": InAppChannel()}
    dispatcher = Dispatcher(
        engine, writer, channels, settings, name="test-dispatcher", checked_in_on=checked_in_on
    )
    yield dispatcher
    dispatcher.close()
    writer.close()
