"""Several dispatcher processes at once over 10,000 due reminders: each sent once.

On PostgreSQL the claims use FOR UPDATE SKIP LOCKED; on SQLite they are
atomic UPDATE ... RETURNING statements serialised by the database's lock.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update
from sqlmodel import col

from aftercare.patients.models import Patient
from aftercare.reminders.models import Reminder

REPO = Path(__file__).resolve().parents[2]
TOTAL = int(os.environ.get("DISPATCH_TEST_TOTAL", "10000"))


def _fill(engine, factory, total: int = TOTAL) -> None:
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    patient_id = uuid.UUID(enrolment.id)
    due = datetime.now(UTC) - timedelta(minutes=1)
    with engine.begin() as conn:
        conn.execute(
            update(Patient).where(col(Patient.id) == patient_id).values(channels=["in-app", "push"])
        )
        conn.execute(
            insert(Reminder),
            [
                {"patient_id": patient_id, "purpose": "test", "item_key": f"load-{n}",
                 "channel": "push", "due_at": due, "status": "pending", "attempts": 0,
                 "created_at": due}
                for n in range(total)
            ],
        )  # fmt: skip


def _start(database_url: str, out: Path, name: str, *slow: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.reminders.dispatch_process", database_url, str(out)]
    return subprocess.Popen([*command, name, *slow], cwd=REPO, env=env)


def _sent(folder: Path) -> dict[str, list[int]]:
    return {path.stem: [int(x) for x in path.read_text().split()] for path in folder.glob("*.txt")}


def test_four_dispatchers_send_every_reminder_exactly_once(engine, factory, database_url, tmp_path):
    _fill(engine, factory)
    processes = [_start(database_url, tmp_path / f"d{n}.txt", f"d{n}") for n in range(4)]
    for process in processes:
        assert process.wait(timeout=300) == 0
    sent = _sent(tmp_path)
    counts = Counter(i for ids in sent.values() for i in ids)
    assert len(counts) == TOTAL, "none lost"
    assert max(counts.values()) == 1, "none doubled"
    assert sum(1 for ids in sent.values() if ids) >= 2, "the work was shared"


def test_killing_a_dispatcher_mid_run_loses_nothing(engine, factory, database_url, tmp_path):
    _fill(engine, factory)
    processes = [_start(database_url, tmp_path / f"d{n}.txt", f"d{n}") for n in range(4)]
    victim = tmp_path / "d0.txt"
    deadline = time.monotonic() + 300  # however slow the machine: the kill comes mid-run
    while not victim.exists() or len(victim.read_text().split()) < 300:
        assert processes[0].poll() is None, "the dispatcher to kill stopped by itself"
        assert time.monotonic() < deadline, "the dispatcher to kill never sent 300"
        time.sleep(0.01)
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait(timeout=300)
    for process in processes[1:]:
        assert process.wait(timeout=300) == 0
    sent = _sent(tmp_path)
    counts = Counter(i for ids in sent.values() for i in ids)
    assert len(counts) == TOTAL, "none lost: the killed dispatcher's claims went to the others"
    doubled = {i for i, n in counts.items() if n > 1}
    # A process killed between sending and marking cannot have marked: those
    # few are sent again after the lease (push replaces them by their Topic).
    assert doubled <= set(sent["d0"]), "only what the killed dispatcher sent and never marked"
    # A dispatcher has up to two batches under way (its two lanes, dispatcher.sweep).
    assert len(doubled) <= 2 * 200, "at most the two batches under way"
    assert all(n <= 2 for n in counts.values())


def test_a_slow_channel_and_a_lease_shorter_than_a_batch_send_each_once(
    engine, factory, database_url, tmp_path
):
    """At 0.15 s a message and a 3 s lease, batches of 10 to 80 take 1.5 to 12 s: each
    dispatcher keeps its claim alive while it sends, and the quick ones, back for more,
    never take the rows a slow one is still sending."""
    total = 300
    _fill(engine, factory, total)
    batches = (10, 20, 40, 80)
    processes = [
        _start(database_url, tmp_path / f"d{n}.txt", f"d{n}", "3", "0.15", str(size))
        for n, size in enumerate(batches)
    ]
    for process in processes:
        assert process.wait(timeout=600) == 0
    counts = Counter(i for ids in _sent(tmp_path).values() for i in ids)
    assert len(counts) == total, "none lost"
    doubled = sorted(i for i, n in counts.items() if n > 1)
    assert doubled == [], f"{len(doubled)} sent twice"
