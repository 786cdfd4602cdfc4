"""Hot statements on the driver's cursor (`aftercare.db.Prepared`) store and read exactly
what SQLAlchemy does, on SQLite and PostgreSQL alike."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, insert
from sqlalchemy import select as select_columns
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent
from aftercare.db import Prepared, as_json, as_utc, as_uuid, has_writes
from aftercare.flags.models import Flag

_INSERT = Prepared(
    lambda _dialect: insert(AuditEvent.__table__),  # type: ignore[attr-defined]
    columns=["at", "clinic_id", "actor", "actor_id", "action", "subject", "subject_id",
             "client", "detail"],
)  # fmt: skip
_READ = Prepared(
    lambda _dialect: select_columns(
        col(AuditEvent.at), col(AuditEvent.actor_id), col(AuditEvent.detail)
    ).where(col(AuditEvent.subject_id) == bindparam("subject_id"))
)
_COUNT_OPEN = Prepared(
    lambda _dialect: select_columns(col(Flag.id)).where(
        col(Flag.status) == "open", col(Flag.patient_id) == bindparam("patient_id")
    )
)

moments = st.datetimes(
    min_value=datetime(1971, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
)
details = st.dictionaries(
    st.text(max_size=5), st.one_of(st.integers(-(2**31), 2**31), st.text(max_size=10)),
    max_size=4,
)  # fmt: skip


FIXTURES = [HealthCheck.function_scoped_fixture]


@settings(max_examples=40, deadline=None, suppress_health_check=FIXTURES)
@given(at=moments, offset=st.integers(-14 * 60, 14 * 60), detail=details)
def test_what_the_driver_writes_sqlalchemy_reads_back_the_same(engine, at, offset, detail):
    actor, subject_id = uuid.uuid4(), uuid.uuid4().hex
    local = at.astimezone(timezone(timedelta(minutes=offset)))
    with Session(engine) as session:
        _INSERT.run(session, at=local, clinic_id=None, actor="system", actor_id=actor,
                    action="test", subject="test", subject_id=subject_id, client=None,
                    detail=detail)  # fmt: skip
        session.commit()
    with Session(engine) as session:
        stored = session.exec(select(AuditEvent).where(AuditEvent.subject_id == subject_id)).one()
        assert (stored.at, stored.actor_id, stored.detail) == (at, actor, detail)
        # ... and what SQLAlchemy wrote, the driver reads back the same.
        read_at, read_actor, read_detail = _READ.run(session, subject_id=subject_id).fetchone()
        assert (as_utc(read_at), as_uuid(read_actor), as_json(read_detail)) == (
            at, actor, detail,
        )  # fmt: skip


def test_a_write_marks_the_session_and_pending_changes_are_flushed_first(engine, session):
    assert not has_writes(session)
    _READ.run(session, subject_id="none").fetchall()
    assert not has_writes(session), "a read is not a write"
    # An ORM object added and not flushed yet is seen by the statement, as with SQLAlchemy.
    session.add(AuditEvent(at=datetime.now(UTC), actor="system", action="pending",
                           subject="test", subject_id="pending"))  # fmt: skip
    assert _READ.run(session, subject_id="pending").fetchone() is not None
    _INSERT.run(session, at=datetime.now(UTC), clinic_id=None, actor="system", actor_id=None,
                action="test", subject="test", subject_id="x", client=None, detail={})  # fmt: skip
    assert has_writes(session)
    session.rollback()


def _write(session: Session, subject_id: str) -> None:
    _INSERT.run(session, at=datetime.now(UTC), clinic_id=None, actor="system", actor_id=None,
                action="test", subject="test", subject_id=subject_id, client=None,
                detail={})  # fmt: skip


def test_each_transaction_of_a_session_runs_on_its_own_connection(engine):
    """The session's connection is kept for its transaction only (`db.CONNECTION`): after
    a commit, a rollback or a savepoint the next statement runs in the session's current
    transaction, whatever connection the pool gave it."""
    tag = uuid.uuid4().hex
    with Session(engine) as session:
        _write(session, f"{tag}-committed")
        session.commit()
        _write(session, f"{tag}-rolled-back")  # a new transaction, begun by the statement
        session.rollback()
        with session.begin_nested():
            _write(session, f"{tag}-in-savepoint")
        _write(session, f"{tag}-after-savepoint")
        session.commit()
        session.close()
        _write(session, f"{tag}-after-close")
        session.commit()
    with Session(engine) as session:
        stored = session.exec(
            select(AuditEvent.subject_id).where(col(AuditEvent.subject_id).startswith(tag))
        ).all()
    assert sorted(stored) == sorted(
        f"{tag}-{name}" for name in ("committed", "in-savepoint", "after-savepoint", "after-close")
    )


def test_a_read_only_connection_reads_what_the_session_reads_and_cannot_write(engine, session):
    from aftercare.db import read_only

    _INSERT.run(session, at=datetime.now(UTC), clinic_id=None, actor="system", actor_id=None,
                action="test", subject="test", subject_id="kept", client=None,
                detail={"a": 1})  # fmt: skip
    session.commit()
    with read_only(engine) as reads:
        assert (
            _READ.run(reads, subject_id="kept").fetchall()
            == _READ.run(session, subject_id="kept").fetchall()
        )
        with pytest.raises(ValueError, match="through a session"):
            _INSERT.run(reads, at=datetime.now(UTC), clinic_id=None, actor="system",
                        actor_id=None, action="t", subject="t", subject_id="lost", client=None,
                        detail={})  # fmt: skip
    assert _READ.run(session, subject_id="lost").fetchall() == []


def test_constants_written_in_the_statement_are_kept(engine, session):
    assert _COUNT_OPEN.run(session, patient_id=uuid.uuid4()).fetchall() == []


def test_a_naive_time_is_refused_as_with_sqlalchemy(session):
    with pytest.raises(ValueError, match="UTC offset"):
        _INSERT.run(session, at=datetime(2026, 1, 1), clinic_id=None, actor="system",
                    actor_id=None, action="t", subject="t", subject_id="t", client=None,
                    detail={})  # fmt: skip


def test_statements_it_cannot_run_faithfully_are_refused_when_built(session):
    listed = Prepared(
        lambda _dialect: select_columns(col(Flag.id)).where(col(Flag.status).in_(["a", "b"]))
    )
    with pytest.raises(ValueError, match="cannot expand a list"):
        listed.run(session)
    # A column left out whose default is computed (the flag's id) must be given.
    no_id = Prepared(lambda _dialect: insert(Flag.__table__), columns=["status"])  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="give id a value"):
        no_id.run(session, status="open")


def test_a_database_error_is_sqlalchemys_and_keeps_the_values_out(session):
    """The app answers a database error as it answers SQLAlchemy's (a database away is a
    503), so the driver's own errors come out as SQLAlchemy's, with the values hidden."""
    secret = "a patient's words"
    with pytest.raises(DBAPIError) as raised:
        _INSERT.run(session, at=datetime.now(UTC), clinic_id=None, actor=None, actor_id=None,
                    action="test", subject="test", subject_id=secret, client=None,
                    detail={"note": secret})  # fmt: skip
    assert isinstance(raised.value, IntegrityError)  # the actor may not be missing
    # SQLAlchemy's part of the message leaves the values out (PostgreSQL's own detail
    # may quote the row: logs never print a database error's message, aftercare.logs).
    assert raised.value.hide_parameters
    assert "[parameters:" not in str(raised.value)
    session.rollback()


# Any moment whose offset does not carry it out of datetime's range, year 1 included.
any_moment = st.datetimes(datetime(1, 1, 2), datetime(9999, 12, 30), timezones=st.just(UTC))


@given(at=any_moment, offset=st.integers(-14 * 60, 14 * 60))
def test_a_time_is_written_as_sqlalchemy_writes_it_on_sqlite(at, offset):
    """Same text, so that times written either way compare and sort together."""
    from sqlalchemy.dialects import sqlite

    from aftercare.db import _for_sqlite

    sqlalchemys = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert sqlalchemys is not None
    local = at.astimezone(timezone(timedelta(minutes=offset)))
    assert _for_sqlite(local) == sqlalchemys(at.replace(tzinfo=None))
