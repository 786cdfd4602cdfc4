"""The write path: on SQLite one writer thread commits waiting jobs together."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlmodel import Session, func, select

from aftercare.audit.models import AuditEvent
from aftercare.writer import DirectWriter, GroupCommitWriter, make_writer

CEILING_S = 120  # a wait's ceiling: generous, so that a slow machine never decides


def _add_event(action: str):
    def job(session: Session) -> str:
        session.add(AuditEvent(at=datetime.now(UTC), actor="system", action=action,
                               subject="test", subject_id="1"))  # fmt: skip
        session.flush()
        return action

    return job


def _blocker(running: threading.Event, release: threading.Event):
    """A job that holds the writer until released, then writes "first"."""

    def job(session: Session) -> str:
        running.set()
        release.wait(CEILING_S)
        result: str = _add_event("first")(session)
        return result

    return job


def _count(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(AuditEvent)).one()


def test_the_writer_fits_the_database(engine):
    writer = make_writer(engine)
    expected = GroupCommitWriter if engine.dialect.name == "sqlite" else DirectWriter
    assert isinstance(writer, expected)
    writer.close()


def test_jobs_waiting_together_are_committed_together(engine):
    writer = GroupCommitWriter(engine)
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    running, release = threading.Event(), threading.Event()
    blocker = _blocker(running, release)

    with ThreadPoolExecutor(12) as pool:
        first = pool.submit(writer.run, blocker)
        assert running.wait(CEILING_S), "the writer runs the first job"
        rest = [pool.submit(writer.run, _add_event(f"job-{n}")) for n in range(10)]
        # The ten wait in the writer's queue while it is busy with the first (however
        # long their threads take to get there), then it is let go.
        deadline = time.monotonic() + CEILING_S
        while writer._jobs.qsize() < 10:
            assert time.monotonic() < deadline, "the ten jobs never all waited"
            time.sleep(0.01)
        release.set()
        assert first.result() == "first"
        assert sorted(f.result() for f in rest) == sorted(f"job-{n}" for n in range(10))
    writer.close()
    assert _count(engine) == 11
    assert len(commits) == 2, "one commit for the first job, one for the ten that waited"


def test_a_failing_job_fails_alone(engine):
    writer = make_writer(engine)

    def broken(session: Session) -> None:
        raise ValueError("broken job")

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(writer.run, _add_event(f"ok-{n}")) for n in range(6)]
        failing = pool.submit(writer.run, broken)
        futures += [pool.submit(writer.run, _add_event(f"ok-{n}")) for n in range(6, 12)]
        with pytest.raises(ValueError, match="broken job"):
            failing.result()
        assert len({f.result() for f in futures}) == 12
    writer.close()
    assert _count(engine) == 12


def test_a_request_that_gives_up_waiting_stops_nothing(engine):
    """A request cancelled while its job waits (a closed tab, a server's shutdown): its
    job still runs and is kept, and the writer goes on with the next ones."""
    import asyncio

    writer = GroupCommitWriter(engine)
    running, release = threading.Event(), threading.Event()
    blocker = _blocker(running, release)

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(writer.submit(blocker))
        assert await asyncio.to_thread(running.wait, CEILING_S), "the writer runs the first job"
        given_up = asyncio.ensure_future(writer.submit(_add_event("given up")))
        deadline = time.monotonic() + CEILING_S
        while writer._jobs.qsize() < 1:
            assert time.monotonic() < deadline, "the second job never waited"
            await asyncio.sleep(0.01)
        given_up.cancel()
        release.set()
        later = await asyncio.wait_for(writer.submit(_add_event("later")), CEILING_S)
        return [await first, later]

    try:
        assert asyncio.run(scenario()) == ["first", "later"]
    finally:
        release.set()
        writer.close()
    with Session(engine) as session:
        actions = set(session.exec(select(AuditEvent.action)).all())
    assert {"first", "given up", "later"} <= actions, "the job given up on is kept"
