import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from aftercare.audit.models import AuditEvent
from aftercare.db import Prepared

# Every change writes one: on the driver's cursor (aftercare.db.Prepared).
_INSERT_EVENT = Prepared(
    lambda _dialect: insert(AuditEvent.__table__),  # type: ignore[attr-defined]
    columns=["at", "clinic_id", "actor", "actor_id", "action", "subject", "subject_id",
             "client", "detail"],
)  # fmt: skip


def record(
    session: Session,
    at: datetime,
    clinic_id: uuid.UUID | None,
    actor: str,
    actor_id: uuid.UUID | None,
    action: str,
    subject: str,
    subject_id: object,
    *,
    client: str | None = None,
    **detail: Any,
) -> None:
    """Add an audit row to the caller's transaction: it lands with the change or not at all."""
    _INSERT_EVENT.run(
        session,
        **{
            "at": at,
            "clinic_id": clinic_id,
            "actor": actor,
            "actor_id": actor_id,
            "action": action,
            "subject": subject,
            "subject_id": str(subject_id),
            "client": client[:100] if client else None,
            "detail": detail,
        },
    )


def record_api_read(
    session: Session,
    at: datetime,
    nurse: Any,
    subject: str,
    subject_id: object,
    what: str,
    client: str,
) -> None:
    """A nurse read part of a patient's record through the API: audited like a console
    view, and committed now (a read has no other transaction to ride with)."""
    action = "patient.viewed" if subject == "patient" else f"{subject}.listed"
    record(session, at, nurse.clinic_id, "nurse", nurse.id, action, subject, subject_id,
           client=client, via="api", what=what)  # fmt: skip
    session.flush()
