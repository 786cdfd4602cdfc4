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

A job submitted from the event loop (`submit`: the check-in) runs on the loop itself,
when the writer thread gives that loop its turn: the jobs the loop gathered meanwhile
run there in one transaction, which the writer thread then commits (the fsync) while
the loop goes on serving. Run in the writer thread, such a job fought the loop for
Python's lock at each statement (bench/checkins.py: 5 thread switches a check-in and
a tenth of the server's time). On the loop a job never waits for SQLite's lock: if
another process holds it, the batch goes back to the writer thread, which waits.
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

from aftercare.db import BUSY_TIMEOUT_MS, has_writes, make_engine

T = TypeVar("T")
Job = Callable[[Session], T]
MAX_BATCH = 64
log = logging.getLogger(__name__)


class Writer(Protocol):
    def run(self, job: Job[T]) -> T:
        """Run a job from a worker thread (a sync route, a background job)."""
        ...

    async def submit(self, job: Job[T]) -> T:
        """Run a job from the event loop (an async route): on SQLite on the loop itself,
        in its turn with the writer; on PostgreSQL in the thread pool."""
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
# How often the writer thread, waiting for a loop to run its turn, looks whether that
# loop still runs: it only decides who runs the jobs (the loop, or the writer thread
# when the loop has stopped or the writer closes), never their outcome.
TURN_CHECK_S = 1.0


class _Turn:
    """Jobs submitted on one event loop, waiting for the writer to give that loop its turn.
    Taken once: by the loop, or by the writer thread if the loop no longer runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[Waiting] = []
        self.taken = False


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
        # Each loop's turn still gathering jobs, and what a loop hands back from its turn.
        self._turns: dict[asyncio.AbstractEventLoop, _Turn] = {}
        self._turns_lock = threading.Lock()
        self._handed: queue.SimpleQueue[tuple[Session | None, list[Any]]] = queue.SimpleQueue()
        self._closing = False

    def run(self, job: Job[T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write job cannot wait for another write job")
        done: Future[T] = Future()
        self._enqueue((job, done))
        return done.result()

    async def submit(self, job: Job[T]) -> T:
        """The job joins its loop's turn (one is asked for if none is waiting); the loop
        runs it when the writer gives the turn (`_take_turn`)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        with self._turns_lock:
            turn = self._turns.get(loop)
            asked = turn is None
            if turn is None:
                turn = self._turns[loop] = _Turn(loop)
            turn.waiting.append((job, done))
        if asked:
            self._enqueue(turn)
        return await done

    def _run_here(self, turn: _Turn) -> bool:
        """Run a turn's jobs in the writer thread, unless its loop took them already."""
        batch = self._claim(turn)
        if batch is not None:
            self._hand_back(batch, self._run_batch(batch))
        return batch is not None

    def _claim(self, turn: _Turn) -> list[Waiting] | None:
        """The turn's jobs, for whoever takes it first (None for the other)."""
        with self._turns_lock:
            if turn.taken:
                return None
            turn.taken = True
            if self._turns.get(turn.loop) is turn:
                del self._turns[turn.loop]  # later jobs ask for a new turn
            return turn.waiting

    def _take_turn(self, turn: _Turn) -> None:
        """On the loop, when the writer thread gives it the turn: run the jobs in one
        transaction and hand it to the writer thread to commit. The loop never waits
        for SQLite's lock (`busy_timeout=0`): a batch that would, or that fails, goes
        back whole to the writer thread (`None`), which runs its jobs one by one."""
        batch = self._claim(turn)
        if batch is None:
            return
        session = Session(self.engine, expire_on_commit=False)
        try:
            if self.engine.dialect.name != "sqlite":  # made for SQLite; tests try others
                results = [job(session) for job, _ in batch]
            else:
                # On the driver's own connection: through SQLAlchemy each cost 15 µs.
                driver: Any = session.connection().connection.driver_connection
                driver.execute("PRAGMA busy_timeout=0")
                try:
                    results = [job(session) for job, _ in batch]
                finally:
                    driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except BaseException as error:
            log.debug("a batch of %d write jobs failed on the loop; the writer runs them "
                      "one by one", len(batch))  # fmt: skip
            session.close()
            self._handed.put((None, batch))
            if not isinstance(error, Exception):
                raise
        else:
            self._handed.put((session, list(zip(batch, results, strict=True))))

    def _give_turn(self, turn: _Turn) -> None:
        """In the writer thread: let the turn's loop run its jobs, then commit them."""
        try:
            turn.loop.call_soon_threadsafe(self._take_turn, turn)
        except RuntimeError:  # that loop is closed: its jobs are the writer's to run
            self._run_here(turn)
            return
        while True:
            try:
                session, handed = self._handed.get(timeout=TURN_CHECK_S)
                break  # only the turn given can be handed back: one is given at a time
            except queue.Empty:
                gone = self._closing or not turn.loop.is_running()
                if gone and self._run_here(turn):
                    return
        if session is None:
            self._hand_back(handed, self._one_by_one(handed))
            return
        try:
            session.commit()
        except Exception:
            log.debug("a batch of %d write jobs failed to commit; running them one by one",
                      len(handed))  # fmt: skip
            session.close()
            batch = [waiting for waiting, _ in handed]
            self._hand_back(batch, self._one_by_one(batch))
            return
        session.close()
        self._hand_back([waiting for waiting, _ in handed], [(True, r) for _, r in handed])

    def _enqueue(self, waiting: "Waiting | _Turn") -> None:
        if self._thread is None:
            self._start()
        self._jobs.put(waiting)

    def close(self) -> None:
        self._closing = True  # a turn whose loop is blocked here is run by the thread
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
        held: Any = None  # what ended the last batch: a loop's turn, or the stop
        while True:
            first: Any = self._jobs.get() if held is None else held
            held = None
            if first is _STOP:
                return
            if isinstance(first, _Turn):
                self._give_turn(first)
                continue
            batch: list[Waiting] = [first]
            while len(batch) < MAX_BATCH:
                try:
                    waiting = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if waiting is _STOP or isinstance(waiting, _Turn):
                    held = waiting
                    break
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
        return self._one_by_one(batch)

    def _one_by_one(self, batch: list[Waiting]) -> list[tuple[bool, Any]]:
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
