"""The patient's rights over their data: a copy of all of it, and its erasure."""

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, delete, select, update

from aftercare.accounts.models import AccessToken, Clinic
from aftercare.audit.models import AuditEvent
from aftercare.audit.service import record
from aftercare.checkins.models import CheckIn
from aftercare.checkins.schemas import CheckInPublic
from aftercare.checkins.service import checkin_days, history
from aftercare.db import forget_deleted_pages
from aftercare.flags.models import Flag, QueueCard
from aftercare.messages.models import Message
from aftercare.patients.models import EnrollmentCode, Patient
from aftercare.plans.models import PlanItem
from aftercare.plans.service import plan_of
from aftercare.privacy import fhir
from aftercare.reminders.models import PushSubscription, Reminder

_CHECKIN_PAGE = 500


def _all_checkins(session: Session, patient: Patient) -> list[CheckInPublic]:
    """Every check-in, oldest first."""
    checkins: list[CheckInPublic] = []
    while True:
        page = history(session, patient, _CHECKIN_PAGE, len(checkins))
        checkins.extend(page)
        if len(page) < _CHECKIN_PAGE:
            return checkins[::-1]


def export_bundle(
    session: Session, patient: Patient, clinic: Clinic, now: datetime
) -> dict[str, Any]:
    """Everything kept about the patient, as a FHIR `collection` Bundle (plain JSON values)."""
    plan_id = fhir.care_plan_id(patient.id)
    resources = [
        fhir.patient_resource(
            patient.id, patient.alias, patient.language, patient.email, patient.phone
        ),
        fhir.care_plan_resource(
            plan_of(session, patient, checkin_days(session, patient.id)),
            patient.id,
            patient.surgery_at,
            clinic.name,
            now,
        ),
    ]
    for checkin in _all_checkins(session, patient):
        resources.extend(fhir.checkin_resources(checkin, patient.id, plan_id))
    flags = session.exec(
        select(Flag).where(Flag.patient_id == patient.id).order_by(col(Flag.created_at))
    ).all()
    resources.extend(fhir.flag_resource(flag, patient.timezone) for flag in flags)
    messages = session.exec(
        select(Message)
        .where(Message.patient_id == patient.id)
        .order_by(col(Message.created_at), col(Message.id))
    ).all()
    resources.extend(
        fhir.communication_resource(message, patient.timezone, clinic.name) for message in messages
    )
    return fhir.collection(resources, now.astimezone(ZoneInfo(patient.timezone)))


def erase_patient(session: Session, patient: Patient, now: datetime) -> bool:
    """Erase the patient and every row about them, in one transaction that it commits.

    Returns False when they were already gone. Rows go children first, so the
    erase does not depend on ON DELETE CASCADE (which SQLite applies only with
    its foreign keys switched on).
    """
    patient_id, clinic_id, enrolled_from = patient.id, patient.clinic_id, patient.created_at
    # Locked first (PostgreSQL): a check-in arriving meanwhile waits, then finds no patient.
    found = session.exec(
        select(Patient.id).where(Patient.id == patient_id).with_for_update()
    ).first()
    if found is None:
        session.rollback()
        return False
    flag_ids = list(session.exec(select(Flag.id).where(Flag.patient_id == patient_id)))
    checkin_ids = list(session.exec(select(CheckIn.id).where(CheckIn.patient_id == patient_id)))
    session.exec(delete(Reminder).where(reminders_about(patient_id, flag_ids)))
    session.exec(delete(QueueCard).where(col(QueueCard.patient_id) == patient_id))
    session.exec(delete(Flag).where(col(Flag.patient_id) == patient_id))
    session.exec(delete(CheckIn).where(col(CheckIn.patient_id) == patient_id))
    session.exec(delete(PlanItem).where(col(PlanItem.patient_id) == patient_id))
    cut_contact(session, patient_id)
    forget_audit_details(session, clinic_id, enrolled_from, patient_id, checkin_ids, flag_ids)
    session.exec(delete(Patient).where(col(Patient.id) == patient_id))
    record(session, now, clinic_id, "patient", patient_id, "patient.erased", "patient", patient_id)
    # Committed here, not at the end of the request: SQLite's log can be emptied of the
    # erased rows only once their deletion is committed (docs/architecture.md).
    session.commit()
    forget_deleted_pages(session)
    return True


def reminders_about(patient_id: uuid.UUID, flag_ids: list[uuid.UUID]) -> ColumnElement[bool]:
    """The outbox rows about the patient: theirs, and nurses' alerts about their flags."""
    return or_(col(Reminder.patient_id) == patient_id, col(Reminder.flag_id).in_(flag_ids))


def cut_contact(session: Session, patient_id: uuid.UUID) -> None:
    """Remove the message thread and every way to reach the patient or to act as them.

    Push subscriptions, device tokens (the app's session cookie is one too, so every
    device is signed out at once) and enrolment codes, used or not. Erasure and the
    retention job's anonymisation share it; the caller commits.
    """
    session.exec(delete(Message).where(col(Message.patient_id) == patient_id))
    session.exec(delete(PushSubscription).where(col(PushSubscription.patient_id) == patient_id))
    session.exec(delete(AccessToken).where(col(AccessToken.patient_id) == patient_id))
    session.exec(delete(EnrollmentCode).where(col(EnrollmentCode.patient_id) == patient_id))


def forget_audit_details(
    session: Session,
    clinic_id: uuid.UUID,
    since: datetime,
    patient_id: uuid.UUID,
    checkin_ids: list[uuid.UUID],
    flag_ids: list[uuid.UUID],
) -> None:
    """Keep who did what and when, but drop the details, like a nurse's note on a flag.

    Only the clinic's events since the patient's enrolment can be about them:
    the clinic-and-time index keeps this from reading the whole log.
    """
    subjects = [str(subject) for subject in (patient_id, *checkin_ids, *flag_ids)]
    session.exec(
        update(AuditEvent)
        .where(
            col(AuditEvent.clinic_id) == clinic_id,
            col(AuditEvent.at) >= since,
            or_(col(AuditEvent.actor_id) == patient_id, col(AuditEvent.subject_id).in_(subjects)),
        )
        .values(detail={})
    )
