"""The queue's cards: one row per patient with waiting flags, refreshed with their flags.

Every change to a patient's flags (a check-in or a silence raising one, a nurse
acknowledging or resolving one) calls `refresh_card` in the same transaction.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, func, or_, text
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from aftercare.db import Prepared, as_utc
from aftercare.flags.models import SEVERITY_ORDER, SEVERITY_RANK, Flag, QueueCard

WAITING: tuple[str, ...] = ("open", "acknowledged")
_SEVERITY_OF_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}


def _upsert(dialect: str) -> Any:
    table = QueueCard.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.patient_id],
        set_={name: statement.excluded[name] for name in _CARD if name != "patient_id"},
    )


# A card changes with every flag: on the driver's cursor (aftercare.db.Prepared).
_CARD = ["patient_id", "clinic_id", "severity_order", "unacknowledged", "waiting", "sort_at",
         "oldest_unacknowledged_at", "updated_at"]  # fmt: skip
_LOCK = Prepared(lambda _dialect: text("SELECT pg_advisory_xact_lock(:key)"))
# What the card says, counted by the database: a patient's waiting flags may be many (a
# weekend of check-ins no nurse has seen yet), and reading them back one by one made
# every new check-in slower than the last (bench/checkins.py, py-spy).
_OPEN = col(Flag.status) == "open"
_WAITING_FLAGS = Prepared(
    lambda _dialect: select_columns(
        func.max(col(Flag.severity_rank)),
        func.count(),
        func.count(case((_OPEN, 1))),
        func.min(case((_OPEN, col(Flag.created_at)))),
        func.min(col(Flag.created_at)),
    ).where(
        col(Flag.patient_id) == bindparam("patient_id"),
        or_(*(col(Flag.status) == status for status in WAITING)),
    )
)


def _add_one(dialect: str) -> Any:
    """The card with one more open flag: counted on, never counted again (below)."""
    table = QueueCard.__table__  # type: ignore[attr-defined]
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    new = insert.excluded
    # SQLite's two-argument min() is PostgreSQL's least(); a NULL would win SQLite's.
    least = func.least if dialect == "postgresql" else func.min
    oldest_open = least(func.coalesce(table.c.oldest_unacknowledged_at, new.sort_at), new.sort_at)
    return insert.on_conflict_do_update(
        index_elements=[table.c.patient_id],
        set_={
            "severity_order": least(table.c.severity_order, new.severity_order),
            "unacknowledged": table.c.unacknowledged + 1,
            "waiting": table.c.waiting + 1,
            "sort_at": oldest_open,
            "oldest_unacknowledged_at": oldest_open,
            "updated_at": new.updated_at,
        },
    )


_REMOVE = Prepared(
    lambda _dialect: delete(QueueCard).where(col(QueueCard.patient_id) == bindparam("patient_id"))
)
_SAVE = Prepared(_upsert, columns=_CARD)
_ADD_ONE = Prepared(_add_one, columns=_CARD)


def _lock(db: Session, patient_id: uuid.UUID) -> None:
    if db.get_bind().dialect.name == "postgresql":
        # Two nurses moving two of one patient's flags at once: the second waits here
        # for the first to commit, then reads both changes (no card left stale).
        _LOCK.run(db, key=int.from_bytes(patient_id.bytes[:8], "big", signed=True))


def add_to_card(
    db: Session, patient_id: uuid.UUID, clinic_id: uuid.UUID, severity: str, raised_at: datetime
) -> None:
    """The card after one new open flag, without reading the patient's flags back.

    A new open flag only adds: one more waiting and unacknowledged, the worse of the two
    severities, the older of the two unacknowledged times (the queue's order). Counting
    every waiting flag instead made each check-in of a patient with a weekend of unseen
    flags slower than the last (bench/checkins.py). On PostgreSQL it takes the same lock
    as `refresh_card`, so that a nurse's recount never misses a flag being raised.
    """
    _lock(db, patient_id)
    _ADD_ONE.run(
        db,
        patient_id=patient_id,
        clinic_id=clinic_id,
        severity_order=SEVERITY_ORDER[severity],
        unacknowledged=1,
        waiting=1,
        sort_at=raised_at,
        oldest_unacknowledged_at=raised_at,
        updated_at=datetime.now(UTC),
    )


def refresh_card(db: Session, patient_id: uuid.UUID, clinic_id: uuid.UUID) -> None:
    """Make the patient's card say what their waiting flags say now (or remove it)."""
    _lock(db, patient_id)
    worst_rank, waiting, unacknowledged, oldest_open, oldest = _WAITING_FLAGS.run(
        db, patient_id=patient_id
    ).fetchone()
    if not waiting:
        _REMOVE.run(db, patient_id=patient_id)
        return
    worst = _SEVERITY_OF_RANK.get(worst_rank, "amber")
    oldest_unacknowledged: datetime | None = as_utc(oldest_open)
    _SAVE.run(
        db,
        patient_id=patient_id,
        clinic_id=clinic_id,
        severity_order=SEVERITY_ORDER[worst],
        unacknowledged=unacknowledged,
        waiting=waiting,
        sort_at=oldest_unacknowledged or as_utc(oldest),
        oldest_unacknowledged_at=oldest_unacknowledged,
        updated_at=datetime.now(UTC),
    )
