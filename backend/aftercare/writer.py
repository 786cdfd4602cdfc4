"""Where write transactions run.

SQLite lets one connection write at a time; threads that fight for its lock
busy-wait, and a check-in's latency goes from milliseconds to half a second.
So on SQLite every write job goes to one writer thread, which runs the jobs
waiting in its queue in one transaction and commits them together: one
fsync for many check-ins. PostgreSQL handles concurrent writers itself, so
there a job simply runs in its own transaction.

A job is a function of a session that returns plain values (no ORM objects:
the session is gone when the caller reads the result). It may be run twice:
when a batch fails, its jobs are retried one by one, so that one bad job
fails alone; and a job that hits a unique constraint (the same check-in sent
twice at once) is run again, to find what the other one stored.
"""

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from aftercare.db import has_writes, make_engine

T = TypeVar("T")
Job = Callable[[Session], T]
MAX_BATCH = 64
log = logging.getLogger(__name__)


class Writer(Protocol):
    def run(self, job: Job[T]) -> T:
        """Run a job from a worker thread (a sync route, a background job)."""
        ...

    async def submit(self, job: Job[T]) -> T:
        """Run a job from the event loop (an async route), without holding a thread."""
        ...

    def close(self) -> None: ...


def _run_once(engine: Engine, job: Job[T]) -> T:
    with Session(engine, expire_on_commit=False) as session:
        result = job(session)
        session.commit()
        return result


def _run_with_retry(engine: Engine, job: Job[T]) -> T:
    try:
        return _run_once(engine, job)
    except IntegrityError:
        return _run_once(engine, job)


class DirectWriter:
    """Each job in its own transaction, in the caller's thread (PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, job: Job[T]) -> T:
        return _run_with_retry(self.engine, job)

    async def submit(self, job: Job[T]) -> T:
        return await run_in_threadpool(_run_with_retry, self.engine, job)

    def close(self) -> None:
        pass


_STOP = object()
# Where a job's outcome goes: a thread's future (`run`), or the event loop's (`submit`).
Waiting = tuple[Job[Any], "Future[Any] | asyncio.Future[Any]"]


def _settle(outcomes: list[tuple["asyncio.Future[Any]", bool, Any]]) -> None:
    """On the event loop: hand each job's outcome to the request awaiting it. A request
    cancelled meanwhile (a closed tab) is past caring; its job has run all the same."""
    for done, ok, value in outcomes:
        if not done.done():
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)


class GroupCommitWriter:
    """One thread runs every write job; jobs waiting together commit together (SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Job[T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write job cannot wait for another write job")
        done: Future[T] = Future()
        self._enqueue((job, done))
        return done.result()

    async def submit(self, job: Job[T]) -> T:
        # The loop's own future, settled by one call from the writer for the whole
        # batch: a thread's future for each job, chained to the loop's, cost a wake-up
        # of the loop per job (60-75 µs of CPU a check-in, now about 25; bench/checkins.py).
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue((job, done))
        return await done

    def _enqueue(self, waiting: Waiting) -> None:
        if self._thread is None:
            self._start()
        self._jobs.put(waiting)

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._jobs.put(_STOP)
                self._thread.join(timeout=30)
                self._thread = None
        self.engine.dispose()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="aftercare-writer", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    waiting = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP:
                    self._hand_back(batch, self._run_batch(batch))
                    return
                batch.append(waiting)
            self._hand_back(batch, self._run_batch(batch))

    def _run_batch(self, batch: list[Waiting]) -> list[tuple[bool, Any]]:
        """Each job's outcome, (True, its result) or (False, its exception)."""
        if len(batch) > 1:
            try:
                with Session(self.engine, expire_on_commit=False) as session:
                    results = [job(session) for job, _ in batch]
                    session.commit()
            except Exception:
                log.debug("a batch of %d write jobs failed; running them one by one", len(batch))
            else:
                return [(True, result) for result in results]
        outcomes: list[tuple[bool, Any]] = []
        for job, _ in batch:
            try:
                outcomes.append((True, _run_with_retry(self.engine, job)))
            except BaseException as exc:
                outcomes.append((False, exc))
        return outcomes

    @staticmethod
    def _hand_back(batch: list[Waiting], outcomes: list[tuple[bool, Any]]) -> None:
        on_loops: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, done), (ok, value) in zip(batch, outcomes, strict=True):
            if isinstance(done, asyncio.Future):
                on_loops.setdefault(done.get_loop(), []).append((done, ok, value))
            elif ok:
                done.set_result(value)
            else:
                done.set_exception(value)
        for loop, outcomes_there in on_loops.items():
            try:
                loop.call_soon_threadsafe(_settle, outcomes_there)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                log.debug("%d write jobs finished after their event loop closed",
                          len(outcomes_there))  # fmt: skip


def make_writer(engine: Engine) -> Writer:
    if engine.dialect.name == "sqlite":
        # Its own engine: the writer must never wait for a connection that a
        # request holds while it waits for the writer.
        return GroupCommitWriter(make_engine(engine.url.render_as_string(hide_password=False)))
    return DirectWriter(engine)


def write(session: Session, writer: Writer, job: Job[T]) -> T:
    """Run a request's write job; the request's own read transaction ends first.

    Otherwise each request would hold two pooled connections at once, and a
    full pool would leave every request waiting for the others. A request that has
    already written keeps its transaction for its unit of work to commit.
    """
    if not has_writes(session):
        session.rollback()
    return writer.run(job)
