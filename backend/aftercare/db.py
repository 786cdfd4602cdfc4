"""One way to the database: an engine per process, a session per request or job."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import ORMExecuteState, UOWTransaction
from sqlmodel import Session, create_engine


def normalise_url(url: str) -> str:
    """Accept the plain `postgresql://` URLs an IT person copies; we talk psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer commits; FULL keeps a check-in
    # that was acknowledged to the patient even through a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    # What is deleted is overwritten with zeros, not left in free pages: an erased
    # patient's words must not stay readable in the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """The engine; its errors never print their parameters, which hold patients' words.

    The pool's size is for PostgreSQL (settings `db_pool_size`, `db_max_overflow`).
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Connections are cheap on SQLite; enough for every request thread.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=20,
            max_overflow=40,
            hide_parameters=True,
        )
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        hide_parameters=True,
    )


# What a background job is given to read with: a new session each call, used as a
# context manager (`with sessions() as session:`); its writes go through the writer.
Sessions = Callable[[], Session]


def session_factory(engine: Engine) -> Sessions:
    def new_session() -> Session:
        return Session(engine)

    return new_session


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for jobs and commands: committed on success, rolled back on error."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def forget_deleted_pages(session: Session) -> None:
    """After an erase: nothing deleted may linger in SQLite's write-ahead log either.

    The log still holds the pages as they were before the erase until a checkpoint
    copies the new ones into the file and empties it. (PostgreSQL keeps dead rows
    until VACUUM reuses their space: not handled yet.)
    """
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        session.commit()


# Whether a session has written anything: ORM changes flushed, or a Core INSERT, UPDATE
# or DELETE run through it. A request that only read commits nothing.
WROTE = "aftercare.wrote"


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, context: UOWTransaction) -> None:
    session.info[WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


def has_writes(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted or session.info.get(WROTE))
