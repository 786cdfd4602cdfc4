"""The write path: on SQLite one writer thread commits waiting jobs together."""

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
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


def _held(writer: GroupCommitWriter, release: threading.Event) -> "Future[str]":
    """The writer thread busy with a job from another thread until `release`: what the
    event loop submits meanwhile waits for its turn."""
    running = threading.Event()
    held = ThreadPoolExecutor(1).submit(writer.run, _blocker(running, release))
    assert running.wait(CEILING_S), "the writer runs the first job"
    return held


async def _until(condition, what: str) -> None:
    deadline = time.monotonic() + CEILING_S
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def test_a_request_that_gives_up_waiting_stops_nothing(engine):
    """A request cancelled while its job waits (a closed tab, a server's shutdown): its
    job still runs and is kept, and the writer goes on with the next ones."""
    writer = GroupCommitWriter(engine)
    release = threading.Event()

    async def scenario() -> list[str]:
        first = _held(writer, release)
        given_up = asyncio.ensure_future(writer.submit(_add_event("given up")))
        await _until(lambda: writer._jobs.qsize() >= 1, "the second job never waited")
        given_up.cancel()
        release.set()
        later = await asyncio.wait_for(writer.submit(_add_event("later")), CEILING_S)
        return [await asyncio.wrap_future(first), later]

    try:
        assert asyncio.run(scenario()) == ["first", "later"]
    finally:
        release.set()
        writer.close()
    with Session(engine) as session:
        actions = set(session.exec(select(AuditEvent.action)).all())
    assert {"first", "given up", "later"} <= actions, "the job given up on is kept"


def _where(action: str, ran: dict[str, tuple[int, int]]):
    """A job that notes its thread and the SQLite lock wait of its connection."""

    def job(session: Session) -> str:
        timeout = -1  # PostgreSQL: no such setting (its writer is not this one)
        if session.get_bind().dialect.name == "sqlite":
            wait = session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar()
            timeout = int(wait or 0)
        ran[action] = (threading.get_ident(), timeout)
        return str(_add_event(action)(session))

    return job


def test_jobs_from_the_event_loop_run_on_it_and_commit_together_in_the_writer(engine):
    """The check-in's path: jobs submitted on the loop while the writer is busy run
    together on the loop, never waiting for SQLite's lock there, and are committed in
    one transaction by the writer thread; a job from a thread still runs in the writer."""
    writer = GroupCommitWriter(engine)
    release = threading.Event()
    ran: dict[str, tuple[int, int]] = {}
    commits: list[int] = []

    async def scenario() -> tuple[list[str], int]:
        held = _held(writer, release)
        jobs = [asyncio.ensure_future(writer.submit(_where(f"loop-{n}", ran))) for n in range(8)]
        await _until(lambda: writer._jobs.qsize() >= 1 and all(not j.done() for j in jobs),
                     "the loop's jobs never waited for their turn")  # fmt: skip
        await asyncio.sleep(0)  # every job has joined the one turn the loop asked for
        event.listen(writer.engine, "commit", lambda conn: commits.append(1))
        release.set()
        done = await asyncio.wait_for(asyncio.gather(*jobs), CEILING_S)
        await asyncio.wrap_future(held)
        return done, threading.get_ident()

    try:
        done, loop_thread = asyncio.run(scenario())
        writer.run(_where("thread", ran))
    finally:
        release.set()
        writer.close()
    assert done == [f"loop-{n}" for n in range(8)]
    sqlite = engine.dialect.name == "sqlite"
    no_wait = 0 if sqlite else -1
    assert {ran[f"loop-{n}"] for n in range(8)} == {(loop_thread, no_wait)}, "on the loop"
    assert ran["thread"][0] != loop_thread, "in the writer thread"
    assert ran["thread"][1] > 0 or not sqlite, "where it may wait for another process"
    assert len(commits) == 3, "the held job's commit, one for the eight, one for the thread's"
    assert _count(engine) == 10


def test_a_batch_that_fails_on_the_loop_is_run_by_the_writer_one_by_one(engine):
    """SQLite busy on the loop, or any failure: the batch goes back to the writer thread,
    where each job runs alone and only the failing one fails."""
    writer = GroupCommitWriter(engine)
    release = threading.Event()

    def busy_on_the_loop(session: Session) -> str:
        if threading.current_thread() is threading.main_thread():  # the loop's thread
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return str(_add_event("retried")(session))

    def broken(session: Session) -> None:
        raise ValueError("broken job")

    async def scenario() -> list[object]:
        held = _held(writer, release)
        sent = (_add_event("ok-1"), busy_on_the_loop, broken, _add_event("ok-2"))
        jobs = [asyncio.ensure_future(writer.submit(job)) for job in sent]
        await _until(lambda: writer._jobs.qsize() >= 1, "the loop's jobs never waited")
        await asyncio.sleep(0)
        release.set()
        await asyncio.wrap_future(held)
        return await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), CEILING_S)

    try:
        outcomes = asyncio.run(scenario())
    finally:
        release.set()
        writer.close()
    assert outcomes[:2] == ["ok-1", "retried"] and outcomes[3] == "ok-2"
    assert isinstance(outcomes[2], ValueError)
    with Session(engine) as session:
        actions = sorted(session.exec(select(AuditEvent.action)).all())
    assert actions == ["first", "ok-1", "ok-2", "retried"]


def test_jobs_whose_loop_has_gone_are_run_by_the_writer(engine):
    """A server stopping with check-ins still waiting for their turn: their event loop
    is gone when the writer gets to them, and the writer thread runs them itself."""
    writer = GroupCommitWriter(engine)
    release = threading.Event()

    async def scenario() -> None:
        _held(writer, release)
        waiting = asyncio.ensure_future(writer.submit(_add_event("orphan")))
        await _until(lambda: writer._jobs.qsize() >= 1, "the job never waited")
        assert not waiting.done()

    try:
        asyncio.run(scenario())  # cancels the waiting request and closes its loop
        release.set()
        assert writer.run(_add_event("after")) == "after", "the writer goes on"
    finally:
        release.set()
        writer.close()
    with Session(engine) as session:
        actions = set(session.exec(select(AuditEvent.action)).all())
    assert actions == {"first", "orphan", "after"}
