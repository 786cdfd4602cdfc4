"""The queue's cards: one row per patient with waiting flags, refreshed with their flags.

Every change to a patient's flags (a check-in or a silence raising one, a nurse
acknowledging or resolving one) calls `refresh_card` in the same transaction.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, text
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from aftercare.flags.models import SEVERITY_ORDER, SEVERITY_RANK, Flag, QueueCard

WAITING: tuple[str, ...] = ("open", "acknowledged")
_SEVERITY_OF_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}


def refresh_card(db: Session, patient_id: uuid.UUID, clinic_id: uuid.UUID) -> None:
    """Make the patient's card say what their waiting flags say now (or remove it)."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        # Two nurses moving two of one patient's flags at once: the second waits here
        # for the first to commit, then reads both changes (no card left stale).
        key = int.from_bytes(patient_id.bytes[:8], "big", signed=True)
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    flags = db.execute(
        select_columns(col(Flag.severity_rank), col(Flag.status), col(Flag.created_at)).where(
            col(Flag.patient_id) == patient_id, col(Flag.status).in_(WAITING)
        )
    ).all()
    if not flags:
        db.execute(delete(QueueCard).where(col(QueueCard.patient_id) == patient_id))
        return
    worst = _SEVERITY_OF_RANK.get(max(rank for rank, _, _ in flags), "amber")
    unacknowledged: list[datetime] = [at for _, status, at in flags if status == "open"]
    values = {
        "clinic_id": clinic_id,
        "severity_order": SEVERITY_ORDER[worst],
        "unacknowledged": len(unacknowledged),
        "waiting": len(flags),
        "sort_at": min(unacknowledged) if unacknowledged else min(at for _, _, at in flags),
        "oldest_unacknowledged_at": min(unacknowledged) if unacknowledged else None,
        "updated_at": datetime.now(UTC),
    }
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = QueueCard.__table__  # type: ignore[attr-defined]
    db.execute(
        insert(table)
        .values(patient_id=patient_id, **values)
        .on_conflict_do_update(index_elements=[table.c.patient_id], set_=values)
    )
