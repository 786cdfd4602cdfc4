"""The queue's cards: one row per patient with waiting flags, refreshed with their flags.

Every change to a patient's flags (a check-in or a silence raising one, a nurse
acknowledging or resolving one) calls `refresh_card` in the same transaction.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, text
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
_WAITING_FLAGS = Prepared(
    lambda _dialect: select_columns(
        col(Flag.severity_rank), col(Flag.status), col(Flag.created_at)
    ).where(
        col(Flag.patient_id) == bindparam("patient_id"),
        or_(*(col(Flag.status) == status for status in WAITING)),
    )
)
_REMOVE = Prepared(
    lambda _dialect: delete(QueueCard).where(col(QueueCard.patient_id) == bindparam("patient_id"))
)
_SAVE = Prepared(_upsert, columns=_CARD)


def refresh_card(db: Session, patient_id: uuid.UUID, clinic_id: uuid.UUID) -> None:
    """Make the patient's card say what their waiting flags say now (or remove it)."""
    if db.get_bind().dialect.name == "postgresql":
        # Two nurses moving two of one patient's flags at once: the second waits here
        # for the first to commit, then reads both changes (no card left stale).
        _LOCK.run(db, key=int.from_bytes(patient_id.bytes[:8], "big", signed=True))
    flags = [
        (rank, status, as_utc(at))
        for rank, status, at in _WAITING_FLAGS.run(db, patient_id=patient_id).fetchall()
    ]
    if not flags:
        _REMOVE.run(db, patient_id=patient_id)
        return
    worst = _SEVERITY_OF_RANK.get(max(rank for rank, _, _ in flags), "amber")
    unacknowledged: list[datetime] = [at for _, status, at in flags if status == "open"]
    _SAVE.run(
        db,
        patient_id=patient_id,
        clinic_id=clinic_id,
        severity_order=SEVERITY_ORDER[worst],
        unacknowledged=len(unacknowledged),
        waiting=len(flags),
        sort_at=min(unacknowledged) if unacknowledged else min(at for _, _, at in flags),
        oldest_unacknowledged_at=min(unacknowledged) if unacknowledged else None,
        updated_at=datetime.now(UTC),
    )
