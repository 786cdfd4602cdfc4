"""Enrolling patients and spending their one-time codes."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from sqlmodel import Session, col, func, select, update

from aftercare.accounts.models import Nurse
from aftercare.accounts.service import issue_token
from aftercare.checkins.models import CheckIn
from aftercare.flags.models import Flag
from aftercare.patients.codes import code_digest, new_code
from aftercare.patients.models import EnrollmentCode, Patient
from aftercare.patients.schemas import (
    CONTACT_FIELDS,
    FOLLOWUP_FIELDS,
    Contact,
    ContactPublic,
    EnrollmentPublic,
    Followup,
    FollowupPublic,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
)
from aftercare.plans.engine import local_date_of
from aftercare.plans.service import freeze_plan
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import wake_window_problem
from aftercare.reminders.outbox import rebuild as rebuild_reminders
from aftercare.settings import Settings


def invalid_field(field: str, message: str, value: object = None) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, for rules that need more than the body to check."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


def _protocol_for(body: PatientCreate, protocols: dict[str, Protocol]) -> Protocol:
    protocol = protocols.get(body.protocol)
    if protocol is None:
        known = ", ".join(sorted(protocols))
        raise invalid_field("protocol", f"unknown protocol; known: {known}", body.protocol)
    if body.language not in protocol.spec.languages:
        raise invalid_field(
            "language", f"{protocol.id} has no {body.language} texts", body.language
        )
    for index, extra in enumerate(body.prescribed):
        if extra.days[-1] > protocol.days:
            raise invalid_field(
                f"prescribed.{index}.days",
                f"the plan ends on Day {protocol.days}",
                list(extra.days),
            )
    return protocol


def create_patient(
    session: Session,
    nurse: Nurse,
    body: PatientCreate,
    protocols: dict[str, Protocol],
    settings: Settings,
    now: datetime,
) -> EnrollmentPublic:
    protocol = _protocol_for(body, protocols)
    defaults = protocol.spec.defaults
    patient = Patient(
        clinic_id=nurse.clinic_id,
        alias=body.alias,
        protocol_id=protocol.id,
        surgery_at=body.surgery_at,
        timezone=body.timezone,
        language=body.language,
        wake_time=body.wake_time or defaults.wake_time,
        sleep_time=body.sleep_time or defaults.sleep_time,
        email=str(body.email) if body.email else None,
        prescribed=[
            {**extra.model_dump(mode="json"), "language": body.language}
            for extra in body.prescribed
        ],
        protocol_version=protocol.version,
        protocol_digest=protocol.digest,
        plan_days=protocol.days,
        created_at=now,
    )
    # One of the two may come from the procedure's defaults.
    problem = wake_window_problem(patient.wake_time, patient.sleep_time)
    if problem:
        raise invalid_field("sleep_time", problem, body.sleep_time)
    apply_contact(patient, body)
    session.add(patient)
    freeze_plan(session, patient, protocol, now)
    enrollment = _issue_code(session, patient.id, now, settings)
    session.commit()
    return enrollment


def _issue_code(
    session: Session, patient_id: uuid.UUID, now: datetime, settings: Settings
) -> EnrollmentPublic:
    """A new one-time code; only its hash is kept, so a lost code is replaced, not shown."""
    code = new_code()
    expires_at = now + timedelta(days=settings.enrollment_code_days)
    session.add(
        EnrollmentCode(
            patient_id=patient_id,
            code_hash=code_digest(code),
            created_at=now,
            expires_at=expires_at,
        )
    )
    link = f"{settings.base_url.rstrip('/')}/start/{code}"
    return EnrollmentPublic(
        id=patient_id,
        enrollment_code=code,
        enrollment_url=link,
        enrollment_qr_url=f"{link}/qr.svg",
        expires_at=expires_at,
    )


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
    session.commit()
    return patient_id, token


def recovery_day(patient: Patient, now: datetime) -> int | None:
    return recovery_day_of(patient.surgery_at, patient.timezone, now)


def recovery_day_of(surgery_at: datetime, timezone: str, now: datetime) -> int | None:
    """Day 1 is the day of surgery in the patient's zone; None before it."""
    zone = ZoneInfo(timezone)
    day = (now.astimezone(zone).date() - local_date_of(surgery_at, zone)).days + 1
    return day if day >= 1 else None


def to_public(session: Session, patient: Patient, now: datetime) -> PatientPublic:
    return to_public_many(session, [patient], now)[0]


def to_public_many(session: Session, patients: list[Patient], now: datetime) -> list[PatientPublic]:
    """Patients as nurses read them, with their check-in and unresolved flag counts."""
    ids = [patient.id for patient in patients]
    checkins: dict[uuid.UUID, int] = dict(
        session.exec(
            select(CheckIn.patient_id, func.count())
            .where(col(CheckIn.patient_id).in_(ids))
            .group_by(col(CheckIn.patient_id))
        ).all()
    )
    flags: dict[uuid.UUID, int] = dict(
        session.exec(
            select(Flag.patient_id, func.count())
            .where(col(Flag.patient_id).in_(ids), Flag.status != "resolved")
            .group_by(col(Flag.patient_id))
        ).all()
    )
    return [
        _public(patient, now, checkins.get(patient.id, 0), flags.get(patient.id, 0))
        for patient in patients
    ]


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


def upcoming_visit(patient: Patient, now: datetime) -> Visit | None:
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


def _public(patient: Patient, now: datetime, checkins: int, open_flags: int) -> PatientPublic:
    zone = ZoneInfo(patient.timezone)
    return PatientPublic(
        id=patient.id,
        alias=patient.alias,
        protocol=patient.protocol_id,
        protocol_version=patient.protocol_version,
        surgery_at=patient.surgery_at.astimezone(zone),
        timezone=patient.timezone,
        language=patient.language,
        wake_time=patient.wake_time.strftime("%H:%M"),
        sleep_time=patient.sleep_time.strftime("%H:%M"),
        email=patient.email,
        **contact_public(patient).model_dump(),
        **followup_public(patient).model_dump(),
        day=recovery_day(patient, now),
        days=patient.plan_days,
        enrolled=patient.enrolled_at is not None,
        created_at=patient.created_at,
        checkin_count=checkins,
        open_flag_count=open_flags,
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


def reissue_code(
    session: Session, patient: Patient, now: datetime, settings: Settings
) -> EnrollmentPublic:
    """A fresh code for a patient; the codes handed out before stop working.

    Only hashes are stored, so a lost code cannot be shown again: it is replaced.
    """
    session.exec(
        update(EnrollmentCode)
        .where(
            col(EnrollmentCode.patient_id) == patient.id,
            col(EnrollmentCode.used_at).is_(None),
            col(EnrollmentCode.expires_at) > now,
        )
        .values(expires_at=now)
    )
    enrollment = _issue_code(session, patient.id, now, settings)
    session.commit()
    return enrollment


def reschedule(
    session: Session,
    patient: Patient,
    changes: PatientUpdate,
    protocols: dict[str, Protocol],
    now: datetime,
) -> Patient:
    """Move the surgery or change the patient's hours: the plan is rebuilt from the current file.

    Contact details change alone, without a rebuild; the follow-up visit remakes
    only its reminder."""
    apply_contact(patient, changes)
    rebooked = apply_followup(patient, changes, changes.surgery_at or patient.surgery_at)
    plan_fields = changes.model_fields_set - set(CONTACT_FIELDS) - set(FOLLOWUP_FIELDS)
    if not plan_fields:
        session.add(patient)
        if rebooked:
            session.flush()
            rebuild_reminders(session, patient, now)
        session.commit()
        session.refresh(patient)
        return patient
    protocol = protocols.get(patient.protocol_id)
    if protocol is None:
        raise invalid_field("protocol", f"the procedure file {patient.protocol_id} is gone")
    for field in plan_fields:
        value = getattr(changes, field)
        if value is None:
            raise invalid_field(field, "may be changed but not removed")
        setattr(patient, field, value)
    problem = wake_window_problem(patient.wake_time, patient.sleep_time)
    if problem:
        session.rollback()
        raise invalid_field("sleep_time", problem, changes.sleep_time)
    freeze_plan(session, patient, protocol, now)
    session.commit()
    session.refresh(patient)
    return patient
