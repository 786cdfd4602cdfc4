"""One way to the database: an engine per process, a session per request or job."""

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, SessionTransaction, UOWTransaction
from sqlmodel import Session, create_engine


def normalise_url(url: str) -> str:
    """Accept the plain `postgresql://` URLs an IT person copies; we talk psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# How long a connection waits for another's write lock (another process: the writer
# thread is this process's only writer). The event loop never waits (`writer.py`).
BUSY_TIMEOUT_MS = 5000


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer commits; FULL keeps a check-in
    # that was acknowledged to the patient even through a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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


# What the read-only hot pages read through: the request's session, or a plain connection.
Reads = Session | Connection


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A connection for a page that only reads (Today): no session, no unit of work. A
    session's making, its transaction's bookkeeping and its rollback, with FastAPI's
    solving of the session's dependencies, cost Today a fifth of its time
    (bench/checkins.py); this connection's transaction is rolled back when it goes back
    to the pool. Its statements are `Prepared` ones."""
    with engine.connect() as connection:
        yield connection


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


# The connection of a session's transaction, kept while the transaction lasts: asking the
# session for it (`session.connection()`) and whether it has pending changes cost a
# check-in's write job 30 µs of its 210, for its five statements (bench/checkins.py).
CONNECTION = "aftercare.connection"


@event.listens_for(Session, "after_begin")
def _began(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    session.info[CONNECTION] = connection


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # a savepoint's end leaves the connection as it was
        session.info.pop(CONNECTION, None)


def reads_on_loop(bind: Engine | Session) -> bool:
    """Whether a request's few indexed reads may run on the event loop (`/healthz`, Today):
    on SQLite, in this process, with a pooled connection idle, they take microseconds and
    never wait for a lock (WAL: readers do not wait for the writer); a server's round
    trip, or every SQLite connection in use, goes to the thread pool."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        return False
    checkedin = getattr(engine.pool, "checkedin", None)
    return bool(callable(checkedin) and checkedin() > 0)


def has_writes(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted or session.info.get(WROTE))


# --- Hot statements on the driver's own cursor ---------------------------------------
#
# SQLAlchemy builds, checks and caches each statement, and on most paths its per-call
# work is worth it. On the hottest ones (a check-in, its flag, the queue card, audit rows)
# that work (a cache key, an execution context, result objects, type processors) costs
# five times what SQLite needs to run the statement (bench/checkins.py; 42 µs against
# 8 µs for a one-row read on this machine). A `Prepared` statement is written with
# SQLAlchemy once, compiled once per dialect, and run on the driver's cursor with its
# values converted as SQLAlchemy would store them. What it reads comes back as the
# driver gives it: `as_uuid`, `as_utc` and `as_json` read a column the same on both.

# SQLAlchemy's own storage format on SQLite is "%Y-%m-%d %H:%M:%S.%f": the UTC time's
# isoformat with a space, its microseconds always written, cut before the offset
# (twice as fast as strftime; tests/test_prepared.py holds them equal).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _for_sqlite(value: Any) -> Any:
    if type(value) in _PLAIN:  # most values: nothing to convert
        return value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must carry a UTC offset")
        return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _for_postgresql(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset")
    if isinstance(value, (dict, list)):
        from psycopg.types.json import Json

        return Json(value)
    return value


def as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(value)


def as_utc(value: Any) -> Any:
    """A stored timestamp as an aware UTC datetime (None stays None)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # the order of the values, for positional drivers
    fixed: dict[str, Any]  # the values written into the statement itself
    convert: Callable[[Any], Any]
    writes: bool


class Prepared:
    """A statement built once by `build(dialect_name)` with `bindparam`s, run on the driver.

    An INSERT lists its `columns`; each is given as a value of the column's name.

    `run(session, **values)` runs it in the session's transaction (flushing the session's
    pending ORM changes first, as SQLAlchemy would) and returns the driver's cursor. A
    statement that writes marks the session as written (`has_writes`). A page that only
    reads may give it a plain connection instead (`read_only`).
    """

    def __init__(self, build: Callable[[str], Any], columns: list[str] | None = None) -> None:
        self._build = build
        self._columns = columns  # an INSERT's columns, each a value of the same name
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Any) -> _Compiled:
        statement = self._build(dialect.name)
        compiled = statement.compile(dialect=dialect, column_keys=self._columns)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("a prepared statement cannot expand a list (write `or_`)")
        # The values given at each run; the others were written into the statement.
        named = {name for name, bind in compiled.binds.items() if bind.required}
        fixed = {
            name: value
            for name, value in compiled.construct_params(_check=False).items()
            if name not in named
        }
        # A column left out of an INSERT takes its model's default, as with SQLAlchemy.
        for column in getattr(compiled, "insert_prefetch", ()):
            if column.default is None or not column.default.is_scalar:
                raise ValueError(f"give {column.key} a value: its default is not a constant")
            fixed[column.key] = column.default.arg
        positional = dialect.paramstyle in ("qmark", "numeric")
        return _Compiled(
            sql=compiled.string,
            names=tuple(compiled.positiontup or ()) if positional else None,
            fixed=fixed,
            convert=_for_sqlite if dialect.name == "sqlite" else _for_postgresql,
            writes=bool(compiled.isinsert or compiled.isupdate or compiled.isdelete),
        )

    def run(self, session: "Session | Connection", **values: Any) -> Any:
        if isinstance(session, Session):
            session.flush()  # its pending ORM changes first, as SQLAlchemy would (if any)
            connection = session.info.get(CONNECTION) or session.connection()
        else:
            connection = session
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        if compiled.writes:
            if not isinstance(session, Session):
                raise ValueError("a write goes through a session (the unit of work)")
            session.info[WROTE] = True
        if compiled.fixed:
            values = {**compiled.fixed, **values}
        convert, plain = compiled.convert, _PLAIN
        driver: Any = connection.connection.driver_connection
        try:
            # Most values need nothing: they skip the call (a check-in gives 40 of them).
            if compiled.names is not None:
                given = [v if type(v) in plain else convert(v)
                         for v in map(values.__getitem__, compiled.names)]  # fmt: skip
                return driver.execute(compiled.sql, given)
            return driver.execute(
                compiled.sql,
                {name: v if type(v) in plain else convert(v) for name, v in values.items()},
            )
        except dialect.loaded_dbapi.Error as error:
            # The driver's error as SQLAlchemy's, so that it is handled as any other (a
            # database away is a 503, a unique clash is retried), without the values.
            invalidated = dialect.is_disconnect(error, driver, None)
            if invalidated:
                connection.invalidate(error)
            raise DBAPIError.instance(
                compiled.sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                connection_invalidated=invalidated, dialect=dialect,
            ) from error  # fmt: skip
