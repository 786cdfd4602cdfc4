"""The flag queue and what nurses do with a flag: acknowledge it, then resolve it."""

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, update

from aftercare.accounts.models import Nurse
from aftercare.audit.service import record
from aftercare.checkins.rules import Evidence, reason_message
from aftercare.checkins.schemas import Reason
from aftercare.checkins.service import mark_seen_by_clinic
from aftercare.flags.cards import refresh_card
from aftercare.flags.models import Flag
from aftercare.flags.schemas import FlagPublic, FlagStatus, Outcome
from aftercare.patients.models import Patient
from aftercare.protocols.loader import Protocol
from aftercare.writer import Writer, write

Action = Literal["acknowledge", "resolve"]
# What a nurse did about a flag, in the order the console offers them.
OUTCOMES: tuple[Outcome, ...] = (
    "called-patient", "replied-by-message", "advised-to-come-in", "sent-to-emergency",
    "no-action-needed",
)  # fmt: skip


class FlagNotFound(Exception):
    pass


class FlagAlreadyResolved(Exception):
    pass


def _reasons(flag: Flag, protocol: Protocol | None, language: str) -> list[Reason]:
    return reasons_in(flag.reasons, protocol, language)


def reasons_in(
    stored: list[dict[str, Any]], protocol: Protocol | None, language: str
) -> list[Reason]:
    """A flag's stored evidence worded in the reader's language, answers filled in."""
    rules = {rule.code: rule for rule in protocol.rules} if protocol else {}
    return [
        Reason(
            code=raw["code"],
            message=reason_message(
                rules.get(raw["code"]),
                Evidence(raw["code"], raw["severity"], raw.get("value"), raw.get("previous")),
                language,
            ),
        )
        for raw in stored
    ]


def queue(
    session: Session,
    clinic_id: uuid.UUID,
    protocols: dict[str, Protocol],
    language: str,
    *,
    statuses: list[FlagStatus] | None = None,
    patient_id: uuid.UUID | None = None,
    flag_id: uuid.UUID | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[FlagPublic]:
    """Red before amber, then oldest first; only the clinic's own flags."""
    acknowledger, resolver = aliased(Nurse), aliased(Nurse)
    query = (
        select_columns(
            Flag,
            col(Patient.alias),
            col(Patient.protocol_id),
            col(acknowledger.email),
            col(resolver.email),
        )
        .join(Patient, col(Patient.id) == Flag.patient_id)
        .outerjoin(acknowledger, col(acknowledger.id) == Flag.acknowledged_by)
        .outerjoin(resolver, col(resolver.id) == Flag.resolved_by)
        .where(col(Flag.clinic_id) == clinic_id)
    )
    if statuses is not None:
        query = query.where(col(Flag.status).in_(statuses))
    if patient_id is not None:
        query = query.where(col(Flag.patient_id) == patient_id)
    if flag_id is not None:
        query = query.where(col(Flag.id) == flag_id)
    rows = session.execute(
        query.order_by(col(Flag.severity_rank).desc(), col(Flag.created_at), col(Flag.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        FlagPublic(
            id=flag.id,
            patient_id=flag.patient_id,
            patient_alias=alias,
            severity=flag.severity,
            status=flag.status,
            reasons=_reasons(flag, protocols.get(protocol_id), language),
            checkin_id=flag.checkin_id,
            created_at=flag.created_at,
            acknowledged_at=flag.acknowledged_at,
            acknowledged_by=acknowledged_by,
            resolved_at=flag.resolved_at,
            resolved_by=resolved_by,
            resolution_note=flag.resolution_note,
            resolution_outcome=flag.resolution_outcome,
        )
        for flag, alias, protocol_id, acknowledged_by, resolved_by in rows
    ]


def change(
    session: Session,
    writer: Writer,
    nurse: Nurse,
    flag_id: uuid.UUID,
    action: Action,
    now: datetime,
    protocols: dict[str, Protocol],
    language: str,
    note: str | None = None,
    *,
    outcome: Outcome | None = None,
    client: str | None = None,
) -> FlagPublic:
    """Acknowledge (again: no change) or resolve a flag; a resolved flag is never reopened.

    `outcome` is what was done (the console asks for it; the JSON API does not);
    `client` is the address the request came from, for the audit trail.
    """
    nurse_id, clinic_id = nurse.id, nurse.clinic_id

    def apply(db: Session) -> str:
        flag = db.get(Flag, flag_id)
        if flag is None or flag.clinic_id != clinic_id:
            return "missing"
        if flag.status == "resolved":
            return "resolved"
        if action == "acknowledge" and flag.status == "acknowledged":
            return "unchanged"
        values: dict[str, object] = {}
        first_seen = flag.acknowledged_at is None
        if first_seen:
            values.update(acknowledged_at=now, acknowledged_by=nurse_id, status="acknowledged")
        if action == "resolve":
            values.update(
                status="resolved", resolved_at=now, resolved_by=nurse_id, resolution_note=note,
                resolution_outcome=outcome,
            )  # fmt: skip
        # Conditional on the status read, so two nurses cannot both move it.
        moved = db.exec(
            update(Flag)
            .where(col(Flag.id) == flag_id, col(Flag.status) == flag.status)
            .values(**values)
        )
        if moved.rowcount != 1:
            return "resolved"
        if first_seen and flag.checkin_id is not None:
            mark_seen_by_clinic(db, [flag.checkin_id], now)
        refresh_card(db, flag.patient_id, clinic_id)
        detail = {"note": note} if note else {}
        if outcome:
            detail["outcome"] = outcome
        record(db, now, clinic_id, "nurse", nurse_id, f"flag.{action}", "flag", flag_id,
               client=client, **detail)  # fmt: skip
        return "changed"

    result = write(session, writer, apply)
    if result == "missing":
        raise FlagNotFound(str(flag_id))
    if result == "resolved":
        raise FlagAlreadyResolved(str(flag_id))
    (flag,) = queue(session, clinic_id, protocols, language, flag_id=flag_id)
    return flag
