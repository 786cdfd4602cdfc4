"""Receiving check-ins: judge them at once, store them once, flag what needs a nurse."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from aftercare.accounts.models import Clinic
from aftercare.audit.service import record
from aftercare.checkins.models import CheckIn
from aftercare.checkins.rules import Answers, Verdict, advice_for, evaluate, reason_message
from aftercare.checkins.schemas import CheckInAnswer, CheckInCreate, CheckInPublic, Reason
from aftercare.flags.models import SEVERITY_RANK, Flag
from aftercare.i18n import _, gettext_for
from aftercare.patients.models import Patient
from aftercare.patients.service import invalid_field
from aftercare.plans.engine import local_date_of
from aftercare.protocols.loader import Protocol
from aftercare.writer import Writer

# Phones' clocks drift: a check-in a few minutes "in the future" is still now.
CLOCK_SKEW = timedelta(minutes=5)


class CheckInConflict(Exception):
    """The id was already used for a different check-in."""


@dataclass(frozen=True)
class Received:
    created: bool
    answer: CheckInAnswer


def answers_of(row: CheckIn | CheckInCreate) -> Answers:
    return Answers(
        pain=row.pain,
        temperature_c=row.temperature_c,
        bleeding=row.bleeding,
        discharge=row.discharge,
        urination=row.urination,
        allergy=row.allergy,
        nausea=row.nausea,
        wants_contact=row.wants_contact,
    )


def body_digest(body: CheckInCreate) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recovery_day_at(patient: Patient, moment: datetime) -> int:
    zone = ZoneInfo(patient.timezone)
    return (moment.astimezone(zone).date() - local_date_of(patient.surgery_at, zone)).days + 1


def _previous(session: Session, patient_id: uuid.UUID, before: datetime) -> CheckIn | None:
    return session.exec(
        select(CheckIn)
        .where(CheckIn.patient_id == patient_id, col(CheckIn.recorded_at) < before)
        .order_by(col(CheckIn.recorded_at).desc())
        .limit(1)
    ).first()


def patient_advice(
    verdict: Verdict, protocol: Protocol, clinic: Clinic, language: str
) -> tuple[list[Reason], str]:
    rules = {rule.code: rule for rule in protocol.rules}
    reasons = [
        Reason(
            code=evidence.code, message=reason_message(rules.get(evidence.code), evidence, language)
        )
        for evidence in verdict.reasons
    ]
    # Until the clinic sets its number, red advice still says whom to call.
    phone = clinic.phone or gettext_for(language).gettext(_("your clinic's usual number"))
    advice = advice_for(
        verdict, rules, protocol.reassurance, language, phone, clinic.emergency_number
    )
    return reasons, advice


def receive(
    session: Session,
    writer: Writer,
    patient: Patient,
    clinic: Clinic,
    protocol: Protocol,
    body: CheckInCreate,
    now: datetime,
) -> Received:
    """Judge a check-in and store it with its flag, exactly once per id."""
    if body.recorded_at > now + CLOCK_SKEW:
        raise invalid_field("recorded_at", "is in the future", body.recorded_at.isoformat())
    if body.recorded_at < patient.created_at - CLOCK_SKEW:
        raise invalid_field("recorded_at", "is before enrolment", body.recorded_at.isoformat())
    day = recovery_day_at(patient, body.recorded_at)
    previous = _previous(session, patient.id, body.recorded_at)
    verdict = evaluate(
        protocol.rules, answers_of(body), day, answers_of(previous) if previous else None
    )
    reasons, advice = patient_advice(verdict, protocol, clinic, patient.language)
    answer = CheckInAnswer(id=body.id, severity=verdict.severity, reasons=reasons, advice=advice)
    digest = body_digest(body)
    patient_id, clinic_id = patient.id, clinic.id

    def store(db: Session) -> Received | None:
        existing = db.get(CheckIn, body.id)
        if existing is not None:
            if existing.patient_id != patient_id or existing.body_digest != digest:
                return None
            return Received(False, stored_answer(existing))
        db.add(
            CheckIn(
                **body.model_dump(),
                patient_id=patient_id,
                received_at=now,
                day=day,
                severity=verdict.severity,
                reasons=[reason.model_dump() for reason in reasons],
                advice=advice,
                body_digest=digest,
            )
        )
        db.flush()  # the check-in before the flag that points to it
        if verdict.severity != "none":
            db.add(
                Flag(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    checkin_id=body.id,
                    severity=verdict.severity,
                    severity_rank=SEVERITY_RANK[verdict.severity],
                    reasons=[
                        {
                            "code": e.code,
                            "severity": e.severity,
                            "value": e.value,
                            "previous": e.previous,
                        }
                        for e in verdict.reasons
                    ],
                    created_at=now,
                )
            )
        record(db, now, clinic_id, "patient", patient_id, "checkin.create", "checkin", body.id,
               severity=verdict.severity)  # fmt: skip
        db.flush()
        return Received(True, answer)

    received = writer.run(store)
    if received is None:
        raise CheckInConflict(str(body.id))
    return received


def stored_answer(row: CheckIn) -> CheckInAnswer:
    return CheckInAnswer(
        id=row.id,
        severity=row.severity,
        reasons=[Reason.model_validate(reason) for reason in row.reasons],
        advice=row.advice,
    )


def history(session: Session, patient: Patient, limit: int, offset: int) -> list[CheckInPublic]:
    zone = ZoneInfo(patient.timezone)
    rows = session.exec(
        select(CheckIn)
        .where(CheckIn.patient_id == patient.id)
        .order_by(col(CheckIn.recorded_at).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        CheckInPublic.model_validate(
            {
                **row.model_dump(exclude={"body_digest", "patient_id", "received_at"}),
                "recorded_at": row.recorded_at.astimezone(zone),
            }
        )
        for row in rows
    ]
