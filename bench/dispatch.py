"""One dispatcher sending 100,000 due reminders on PostgreSQL, with and without 1,000,000
reminders not yet due in the same table.

    .venv/bin/python bench/dispatch.py [--url postgresql://postgres@127.0.0.1:5432/aftercare_bench]

The channel does nothing, so the time is the dispatcher's own: claiming in
batches (FOR UPDATE SKIP LOCKED), the batched re-checks at send time, and
marking. Goal (issue 4): under 10 s, and no more than 1.2 times as long with
the million future rows.
"""

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from aftercare.db import make_engine, normalise_url
from aftercare.migrations.runner import upgrade
from aftercare.reminders.channels import Delivery, Result
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.settings import Settings
from aftercare.writer import make_writer

PATIENTS = 1_000


class NoopChannel:
    name = "push"

    def send(self, delivery: Delivery) -> Result:
        return Result("sent")


def fresh_database(url: str) -> None:
    target = make_url(normalise_url(url))
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}"')
        conn.execute(f'CREATE DATABASE "{target.database}"')
    upgrade(url)


def seed_patients(url: str) -> list[uuid.UUID]:
    conninfo = make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(False)
    clinic = uuid.uuid4()
    patients = [uuid.uuid4() for _ in range(PATIENTS)]
    now = datetime.now(UTC)
    with psycopg.connect(conninfo) as conn:
        conn.execute(
            "INSERT INTO clinic (id, slug, name, emergency_number, timezone, app_name, "
            "ack_target_minutes, created_at) "
            "VALUES (%s, 'bench', 'Bench', '112', 'UTC', 'Care', 15, %s)",
            (clinic, now),
        )
        with conn.cursor().copy(
            "COPY patient (id, clinic_id, alias, protocol_id, surgery_at, timezone, language, "
            "wake_time, sleep_time, channels, calendar_token, prescribed, protocol_version, "
            "plan_days, protocol_digest, plan_built_at, created_at) FROM STDIN"
        ) as copy:
            for n, patient in enumerate(patients):
                copy.write_row((patient, clinic, f"P{n}", "hymenoplasty", now, "UTC", "en",
                                "08:00", "22:00", '["in-app", "push"]', uuid.uuid4().hex, "[]",
                                1, 28, "bench", now, now))  # fmt: skip
    return patients


def add_reminders(url: str, patients: list[uuid.UUID], count: int, due: datetime) -> None:
    conninfo = make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(False)
    with (
        psycopg.connect(conninfo) as conn,
        conn.cursor().copy(
            "COPY reminder (patient_id, purpose, item_key, channel, due_at, status, attempts, "
            "created_at) FROM STDIN"
        ) as copy,
    ):
        for n in range(count):
            copy.write_row((patients[n % len(patients)], "test", f"b{due.timestamp():.0f}-{n}",
                            "push", due, "pending", 0, due))  # fmt: skip
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE reminder")


def sweep(url: str) -> tuple[float, int]:
    settings = Settings(_env_file=None, database_url=url, secret_key="bench")
    engine = make_engine(url)
    writer = make_writer(engine)
    dispatcher = Dispatcher(engine, writer, {"push": NoopChannel()}, settings, name="bench")
    started = time.perf_counter()
    counts = dispatcher.sweep(datetime.now(UTC))
    elapsed = time.perf_counter() - started
    writer.close()
    engine.dispose()
    return elapsed, counts.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/aftercare_bench")
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--future", type=int, default=1_000_000)
    args = parser.parse_args()

    fresh_database(args.url)
    patients = seed_patients(args.url)
    add_reminders(args.url, patients, args.due, datetime.now(UTC) - timedelta(minutes=1))
    alone, sent_alone = sweep(args.url)

    add_reminders(args.url, patients, args.future, datetime.now(UTC) + timedelta(days=3))
    add_reminders(args.url, patients, args.due, datetime.now(UTC) - timedelta(seconds=30))
    crowded, sent_crowded = sweep(args.url)

    engine = make_engine(args.url)
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM reminder WHERE status = 'pending'")).scalar()
    print(f"one dispatcher, PostgreSQL, no-op channel, {PATIENTS} patients")
    print(
        f"{sent_alone:>7} due, table otherwise empty:        {alone:6.2f} s "
        f"({sent_alone / alone:8.0f} reminders/s)   (goal < 10 s)"
    )
    print(
        f"{sent_crowded:>7} due, {args.future:,} not yet due beside: {crowded:6.2f} s "
        f"({sent_crowded / crowded:8.0f} reminders/s)"
    )
    print(f"ratio crowded / alone: {crowded / alone:.2f}   (goal <= 1.2)")
    print(f"still pending (the future ones): {left:,}")


if __name__ == "__main__":
    main()
