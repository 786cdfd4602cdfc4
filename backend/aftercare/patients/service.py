"""Enrolling patients and spending their one-time codes."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select, update

from aftercare.accounts.models import AccessToken, Clinic, Nurse
from aftercare.accounts.security import token_digest
from aftercare.accounts.service import issue_token
from aftercare.api_errors import invalid_field
from aftercare.db import Prepared, Reads, as_utc, as_uuid
from aftercare.patients.codes import code_digest
from aftercare.patients.models import EnrollmentCode, Patient
from aftercare.patients.schemas import (
    CONTACT_FIELDS,
    FOLLOWUP_FIELDS,
    Contact,
    ContactPublic,
    Followup,
    FollowupPublic,
)
from aftercare.settings import Settings


@dataclass(frozen=True, slots=True)
class Phone:
    """A signed-in phone's patient and clinic as plain values: what the hot paths (a
    check-in, Today) read, without building ORM objects. Its patient fields have the
    names and types of `Patient`'s, so a service reading them takes either."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    protocol_id: str
    timezone: str
    language: str
    surgery_at: datetime
    created_at: datetime
    plan_days: int
    followup_at: datetime | None
    followup_place: str | None
    app_name: str
    clinic_phone: str | None
    emergency_number: str


# On the driver's cursor (aftercare.db.Prepared): SQLAlchemy's per-statement work cost
# more than the rest of a check-in together (bench/checkins.py).
_PATIENTS = Patient.__table__.c  # type: ignore[attr-defined]
_CLINICS = Clinic.__table__.c  # type: ignore[attr-defined]
_TOKENS = AccessToken.__table__.c  # type: ignore[attr-defined]


def phone_query() -> Select[Any]:
    """The signed-in phone of a device token (`token_hash`, valid at `now`): its patient
    and clinic, the columns `phone_of` reads. A hot path may add columns to it."""
    return (
        select_columns(
            _PATIENTS.id, _PATIENTS.clinic_id, _PATIENTS.protocol_id, _PATIENTS.timezone,
            _PATIENTS.language, _PATIENTS.surgery_at, _PATIENTS.created_at,
            _PATIENTS.plan_days, _PATIENTS.followup_at, _PATIENTS.followup_place,
            _CLINICS.app_name, _CLINICS.phone, _CLINICS.emergency_number,
        )
        .join(AccessToken.__table__, _TOKENS.patient_id == _PATIENTS.id)  # type: ignore[attr-defined]
        .join(Clinic.__table__, _CLINICS.id == _PATIENTS.clinic_id)  # type: ignore[attr-defined]
        .where(
            _TOKENS.token_hash == bindparam("token_hash"),
            _TOKENS.revoked_at.is_(None),
            _TOKENS.expires_at > bindparam("now"),
        )
    )  # fmt: skip


_PHONE_BY_TOKEN = Prepared(lambda _dialect: phone_query())


# How many columns `phone_query` gives; a hot path's own columns come after them.
PHONE_COLUMNS = 13


def phone_of(row: Sequence[Any]) -> Phone:
    """A phone from a row of `phone_query` (its first `PHONE_COLUMNS` columns)."""
    (patient, clinic, protocol, timezone, language, surgery_at, created_at, plan_days,
     followup_at, followup_place, app_name, phone, emergency) = row[:PHONE_COLUMNS]  # fmt: skip
    return Phone(as_uuid(patient), as_uuid(clinic), protocol, timezone, language,
                 as_utc(surgery_at), as_utc(created_at), plan_days, as_utc(followup_at),
                 followup_place, app_name, phone, emergency)  # fmt: skip


def phone_by_token(session: Reads, token: str, now: datetime) -> Phone | None:
    """The phone of a device token (the API's bearer, the pages' session cookie)."""
    row = _PHONE_BY_TOKEN.run(session, token_hash=token_digest(token), now=now).fetchone()
    return None if row is None else phone_of(row)


def spend_code(
    session: Session, typed_code: str, now: datetime, settings: Settings
) -> tuple[uuid.UUID, str] | None:
    """Exchange a valid code for a device token; a code works exactly once.

    The conditional UPDATE makes two simultaneous attempts safe: only one of
    them changes the row.
    """
    digest = code_digest(typed_code)
    spent = session.exec(
        update(EnrollmentCode)
        .where(
            col(EnrollmentCode.code_hash) == digest,
            col(EnrollmentCode.used_at).is_(None),
            col(EnrollmentCode.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(EnrollmentCode.patient_id))
    ).first()
    if spent is None:
        session.rollback()
        return None
    patient_id: uuid.UUID = spent[0]
    patient = session.get(Patient, patient_id)
    if patient is None:
        session.rollback()
        return None
    patient.enrolled_at = patient.enrolled_at or now
    token = issue_token(
        session, now, timedelta(days=settings.patient_token_days), patient_id=patient_id
    )
    session.flush()
    return patient_id, token


def apply_contact(patient: Patient, changes: Contact) -> None:
    """The contact details sent (api.md): a number removed takes the rest with it, and a
    call or a message is allowed only when said so (null is no)."""
    sent = changes.model_fields_set & set(CONTACT_FIELDS)
    for field in sent:
        value = getattr(changes, field)
        if field in ("phone_safe_to_call", "phone_leave_message"):
            value = bool(value)
        setattr(patient, field, value)
    if patient.phone is None:
        patient.phone_safe_to_call = patient.phone_leave_message = False
        patient.phone_best_time = None


# A follow-up visit is booked for the weeks after the surgery, not years later.
FOLLOWUP_HORIZON = timedelta(days=366)


def apply_followup(patient: Patient, changes: Followup, surgery_at: datetime) -> bool:
    """The follow-up visit sent (api.md): null cancels it and its place. True when it
    changed, so the reminder the day before is made again."""
    sent = changes.model_fields_set & set(FOLLOWUP_FIELDS)
    if not sent:
        return False
    before = (patient.followup_at, patient.followup_place)
    when = changes.followup_at if "followup_at" in sent else patient.followup_at
    if when is not None and not surgery_at <= when <= surgery_at + FOLLOWUP_HORIZON:
        raise invalid_field(
            "followup_at", "must be after the surgery and within a year of it", when.isoformat()
        )
    place = changes.followup_place if "followup_place" in sent else patient.followup_place
    if when is None and place is not None and "followup_at" not in sent:
        raise invalid_field("followup_place", "needs a booked visit: send followup_at too")
    patient.followup_at = when
    patient.followup_place = place if when is not None else None
    return (patient.followup_at, patient.followup_place) != before


def followup_public(patient: Patient) -> FollowupPublic:
    zone = ZoneInfo(patient.timezone)
    return FollowupPublic(
        followup_at=patient.followup_at.astimezone(zone) if patient.followup_at else None,
        followup_place=patient.followup_place,
    )


@dataclass(frozen=True)
class Visit:
    """The follow-up visit as Today shows it, in the patient's zone."""

    at: datetime
    place: str | None
    day: str | None  # "today", "tomorrow", or None for later


def upcoming_visit(patient: Patient | Phone, now: datetime) -> Visit | None:
    """The booked visit until the end of its day; None when there is none or it is past."""
    if patient.followup_at is None:
        return None
    zone = ZoneInfo(patient.timezone)
    at = patient.followup_at.astimezone(zone)
    days_away = (at.date() - now.astimezone(zone).date()).days
    if days_away < 0:
        return None
    return Visit(at, patient.followup_place, {0: "today", 1: "tomorrow"}.get(days_away))


def contact_public(patient: Patient) -> ContactPublic:
    return ContactPublic(
        phone=patient.phone,
        phone_safe_to_call=patient.phone_safe_to_call,
        phone_leave_message=patient.phone_leave_message,
        phone_best_time=patient.phone_best_time,
    )


def clinic_patient(session: Session, nurse: Nurse, patient_id: uuid.UUID) -> Patient | None:
    """A patient of the nurse's own clinic; anything else is as if it did not exist."""
    patient = session.get(Patient, patient_id)
    if patient is None or patient.clinic_id != nurse.clinic_id:
        return None
    return patient


def clinic_patients(session: Session, nurse: Nurse, limit: int, offset: int) -> list[Patient]:
    return list(
        session.exec(
            select(Patient)
            .where(Patient.clinic_id == nurse.clinic_id)
            .order_by(col(Patient.created_at).desc(), col(Patient.id))
            .limit(limit)
            .offset(offset)
        )
    )
