"""Flags: the one place their rows are written. A check-in's rules raise one
(`raise_for_checkin`), a patient's silence another (`raise_for_silence`); nurses
acknowledge it, then resolve it."""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, update

from aftercare.accounts.models import Nurse
from aftercare.audit.service import record
from aftercare.db import Prepared
from aftercare.flags.cards import add_to_card, refresh_card
from aftercare.flags.models import SEVERITY_RANK, Flag
from aftercare.flags.rules import Evidence, Verdict, reason_message
from aftercare.flags.schemas import FlagPublic, FlagStatus, Outcome, Reason
from aftercare.patients.models import Patient
from aftercare.protocols.loader import Protocol
from aftercare.writer import Writer, write

Action = Literal["acknowledge", "resolve"]
# What a nurse did about a flag, in the order the console offers them.
OUTCOMES: tuple[Outcome, ...] = (
    "called-patient", "replied-by-message", "advised-to-come-in", "sent-to-emergency",
    "no-action-needed",
)  # fmt: skip


# A check-in's flag is written on the driver's cursor (aftercare.db.Prepared).
_INSERT_FLAG = Prepared(
    lambda _dialect: insert(Flag.__table__),  # type: ignore[attr-defined]
    columns=["id", "clinic_id", "patient_id", "checkin_id", "severity", "severity_rank",
             "status", "reasons", "created_at"],
)  # fmt: skip

# A flag's first acknowledgement is news to the check-ins above: the patient's answer
# page then says the clinic has seen the check-in. The check-ins sign up here
# (`aftercare.checkins.service.mark_seen_by_clinic`), so the flags need not know them;
# each listener runs in the acknowledgement's own transaction.
FirstSeen = Callable[[Session, list[uuid.UUID], datetime], None]
_FIRST_SEEN: list[FirstSeen] = []


def when_first_seen(listener: FirstSeen) -> FirstSeen:
    """Sign a listener up for flags acknowledged for the first time (a decorator)."""
    _FIRST_SEEN.append(listener)
    return listener


def raise_for_checkin(
    db: Session,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    checkin_id: uuid.UUID,
    verdict: Verdict,
    now: datetime,
) -> None:
    """The flag a judged check-in raises, if its rules found anything, and the patient's
    card in the queue; in the check-in's own transaction (the caller commits)."""
    if verdict.severity == "none":
        return
    _INSERT_FLAG.run(
        db,
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        patient_id=patient_id,
        checkin_id=checkin_id,
        severity=verdict.severity,
        severity_rank=SEVERITY_RANK[verdict.severity],
        status="open",
        reasons=[
            {"code": e.code, "severity": e.severity, "value": e.value, "previous": e.previous}
            for e in verdict.reasons
        ],
        created_at=now,
    )
    add_to_card(db, patient_id, clinic_id, verdict.severity, now)


def raise_for_silence(
    db: Session,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    since: datetime,
    rule: tuple[str, str, int],
    now: datetime,
) -> bool:
    """The flag of a patient silent since `since`, once per silence: False when that
    silence has its flag already. `rule` is the rule's code, severity and hours."""
    code, severity, hours = rule
    exists = db.execute(
        select_columns(col(Flag.id)).where(
            col(Flag.patient_id) == patient_id, col(Flag.silent_since) == since
        )
    ).first()
    if exists is not None:
        return False
    db.add(
        Flag(
            clinic_id=clinic_id,
            patient_id=patient_id,
            silent_since=since,
            severity=severity,
            severity_rank=SEVERITY_RANK[severity],
            reasons=[{"code": code, "severity": severity, "value": hours}],
            created_at=now,
        )
    )
    db.flush()
    refresh_card(db, patient_id, clinic_id)
    record(db, now, clinic_id, "system", None, "flag.silence", "patient", patient_id)
    return True


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
            for listener in _FIRST_SEEN:
                listener(db, [flag.checkin_id], now)
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
