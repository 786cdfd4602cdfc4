"""A patient's course of care, where it changes several domains at once: enrolment (the
patient's row, the plan, the reminders, the first code), a new schedule or new hours
(the plan and the reminders follow), and the record nurses read (with the counts of
check-ins and open flags)."""

import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select, update

from aftercare.accounts.models import Nurse
from aftercare.api_errors import invalid_field
from aftercare.audit.service import record
from aftercare.checkins.models import CheckIn
from aftercare.flags.models import Flag
from aftercare.patients.codes import code_digest, new_code
from aftercare.patients.models import EnrollmentCode, Patient
from aftercare.patients.schemas import (
    CONTACT_FIELDS,
    FOLLOWUP_FIELDS,
    EnrollmentPublic,
    PatientCreate,
    PatientPublic,
    PatientUpdate,
)
from aftercare.patients.service import (
    apply_contact,
    apply_followup,
    contact_public,
    followup_public,
)
from aftercare.plans.service import freeze_plan, recovery_day
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import wake_window_problem
from aftercare.reminders.outbox import rebuild as rebuild_reminders
from aftercare.reminders.schemas import (
    MePublic,
    MeUpdate,
)
from aftercare.reminders.service import me_public
from aftercare.settings import Settings
from aftercare.writer import Writer, write


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
    rebuild_reminders(session, patient, now)
    enrollment = _issue_code(session, patient.id, now, settings)
    session.flush()
    return enrollment


def enrol(
    session: Session,
    writer: Writer,
    nurse: Nurse,
    body: PatientCreate,
    protocols: dict[str, Protocol],
    settings: Settings,
    now: datetime,
    audit: dict[str, Any] | None = None,
) -> EnrollmentPublic:
    """Enrol as one write job of the single writer: the patient, their plan, reminders and
    code, and (`audit`: the row's detail) the audit row, in one transaction. On SQLite a
    long plan (an item every minute for days is thousands of rows) then never fights the
    check-ins for the database's lock: they wait their turn in the writer's queue."""
    nurse_id = nurse.id

    def job(db: Session) -> EnrollmentPublic:
        by = db.get(Nurse, nurse_id)
        if by is None:
            raise ValueError("the nurse is gone")
        enrollment = create_patient(db, by, body, protocols, settings, now)
        if audit is not None:
            record(db, now, by.clinic_id, "nurse", by.id, "patient.enrolled", "patient",
                   enrollment.id, **audit)  # fmt: skip
        return enrollment

    return write(session, writer, job)


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
    session.flush()
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
        session.flush()
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
    rebuild_reminders(session, patient, now)
    session.flush()
    session.refresh(patient)
    return patient


def _row_of(db: Session, patient_id: uuid.UUID) -> Patient:
    """The patient's row in a write job's own session (the caller's is another thread's)."""
    row = db.get(Patient, patient_id)
    if row is None:
        raise ValueError("the patient is gone")
    return row


def reschedule_job(
    session: Session,
    writer: Writer,
    patient: Patient,
    changes: PatientUpdate,
    protocols: dict[str, Protocol],
    now: datetime,
    audit: Callable[[Session], None] | None = None,
) -> None:
    """`reschedule` as one write job of the single writer, with the caller's `audit` row in
    the same transaction. A new surgery time or new hours rebuild the plan and its
    reminders: for an every-minute prescription, thousands of rows, which on SQLite wait
    their turn in the writer's queue instead of holding the lock against check-ins. A
    rule it checks (a 422 naming the field) changes nothing. `patient` is read again
    when next used."""
    patient_id = patient.id

    def job(db: Session) -> None:
        row = _row_of(db, patient_id)
        if audit is not None:
            audit(db)
        reschedule(db, row, changes, protocols, now)

    write(session, writer, job)
    session.expire(patient)


HOURS = ("wake_time", "sleep_time")


def hours_problem(patient: Patient, changes: MeUpdate) -> tuple[str, str] | None:
    """The field to blame and why, when the asked waking hours cannot be used.

    The same rule as the nurse's PATCH: on one day, at least four hours long
    (the plan engine does not yet place reminders across midnight).
    """
    asked = [field for field in HOURS if field in changes.model_fields_set]
    for field in asked:
        if getattr(changes, field) is None:
            return field, "may be changed but not removed"
    if not asked:
        return None
    wake = changes.wake_time or patient.wake_time
    sleep = changes.sleep_time or patient.sleep_time
    problem = wake_window_problem(wake, sleep)
    if problem:
        return ("sleep_time" if "sleep_time" in asked else "wake_time"), problem
    return None


def _clock(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value else None


def update_me(
    session: Session,
    writer: Writer,
    patient: Patient,
    changes: MeUpdate,
    now: datetime,
    protocols: dict[str, Protocol] | None = None,
) -> MePublic:
    """Change e-mail, channels, language or waking hours; the waiting reminders follow at once.

    New waking hours rebuild the plan's times as the nurse's PATCH does
    (ticks are kept); `protocols` is needed only then. Raises FastAPI's 422
    (RequestValidationError) naming the field, before anything is changed. One write
    job of the single writer, audit row included (see `reschedule_job`); `patient` is
    read again when next used.
    """
    problem = hours_problem(patient, changes)
    if problem:
        field, message = problem
        raise invalid_field(field, message, _clock(getattr(changes, field)))
    patient_id = patient.id

    def job(db: Session) -> MePublic:
        row = _row_of(db, patient_id)
        return _update_me(db, row, changes, now, protocols)

    public = write(session, writer, job)
    session.expire(patient)
    return public


def _update_me(
    session: Session,
    patient: Patient,
    changes: MeUpdate,
    now: datetime,
    protocols: dict[str, Protocol] | None,
) -> MePublic:
    hours = {
        field: getattr(changes, field)
        for field in HOURS
        if field in changes.model_fields_set and getattr(changes, field) != getattr(patient, field)
    }
    if hours and protocols is None:
        raise ValueError("changing the waking hours needs the procedures to rebuild the plan")
    before = f"{_clock(patient.wake_time)}-{_clock(patient.sleep_time)}"
    if "email" in changes.model_fields_set:
        patient.email = str(changes.email) if changes.email else None
    if changes.channels is not None:
        # In-app stays: it is the app itself, and never leaves the phone.
        patient.channels = sorted({"in-app", *changes.channels})
    if changes.language is not None:
        patient.language = changes.language
    apply_contact(patient, changes)
    session.add(patient)
    session.flush()
    wake = hours.get("wake_time", patient.wake_time)
    sleep = hours.get("sleep_time", patient.sleep_time)
    moved = {"hours_before": before, "hours": f"{_clock(wake)}-{_clock(sleep)}"} if hours else {}
    # The audit row joins the transaction that the rebuild below commits.
    record(session, now, patient.clinic_id, "patient", patient.id, "patient.settings", "patient",
           patient.id, fields=sorted(changes.model_fields_set), **moved)  # fmt: skip
    if hours and protocols is not None:
        # The nurse's own path: new plan times from the procedure, then the outbox.
        reschedule(session, patient, PatientUpdate.model_validate(hours), protocols, now)
    else:
        rebuild_reminders(session, patient, now)
        session.flush()
    return me_public(patient)
