"""Retention: a while after the plan ends, a patient is anonymised by a background job.

The clinic chooses the while (`Clinic.retention_days`, 90 days by default). Then
the alias becomes a placeholder; the e-mail, the prescribed items, the words
(check-in notes, the advice given, nurses' notes on flags, the message thread)
and every way back in (device tokens, push subscriptions, enrolment codes, the
calendar feed's secret) go; reminders not yet sent are dropped. What the clinic
report counts stays exactly as it was: the patient's surgery time, time zone and
plan length, their check-in days, their check-ins (with time and severity) and
their flags (with time, severity, reasons and acknowledgement).
"""

import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, delete, select

from aftercare.accounts.models import Clinic
from aftercare.audit.service import record
from aftercare.checkins.models import CheckIn
from aftercare.db import Sessions, forget_deleted_pages
from aftercare.flags.models import Flag
from aftercare.patients.models import Patient
from aftercare.plans.engine import local_date_of
from aftercare.plans.models import PlanItem
from aftercare.privacy.service import cut_contact, forget_audit_details, reminders_about
from aftercare.reminders.models import Reminder
from aftercare.writer import Writer

log = logging.getLogger(__name__)

SWEEP_EVERY = timedelta(hours=1)
# Neutral and the same in every language; the console shows "Anonymised" instead.
ANONYMISED_ALIAS = "—"
# Patients anonymised per write transaction: a first run over years of patients
# must not hold the single writer (SQLite) away from check-ins for long.
BATCH = 50
# A check-in's digest covers its note: a short note could be guessed back from it.
NO_DIGEST = "0" * 64

# ---------------------------------------------------------------- the pure rule


def plan_ends_at(surgery_at: datetime, timezone: str, plan_days: int) -> datetime:
    """When the plan is over: midnight after its last day, in the patient's time zone.

    Day 1 is the day of surgery, so a plan of `plan_days` days ends at the start
    of the local date `plan_days` days after the surgery's; that is always after
    the surgery itself (the job's query relies on it).
    """
    zone = ZoneInfo(timezone)
    after_last_day = local_date_of(surgery_at, zone) + timedelta(days=plan_days)
    return datetime.combine(after_last_day, time(0), tzinfo=zone)


def is_due(plan_ended_at: datetime, retention_days: int, now: datetime) -> bool:
    """A patient is anonymised once their plan ended more than `retention_days` ago."""
    return now - plan_ended_at > timedelta(days=retention_days)


# ---------------------------------------------------------------- the job


@dataclass(frozen=True)
class DuePatient:
    id: uuid.UUID
    clinic_id: uuid.UUID
    enrolled_from: datetime  # the row's creation: no audit event about them is older
    surgery_at: datetime
    retention_days: int


def due_patients(session: Session, now: datetime) -> list[DuePatient]:
    """Patients whose plan ended more than their clinic's retention ago, not anonymised yet.

    The clinics' settings (a handful of rows), then one query on the index of
    patients not anonymised yet, narrowed per retention setting to surgeries
    older than it: since a plan always ends after its surgery, no patient due
    is left out, and few who are not due are read.
    """
    retentions = sorted(set(session.exec(select(Clinic.retention_days)).all()))
    if not retentions:
        return []
    older_than = [
        and_(
            col(Clinic.retention_days) == days,
            col(Patient.surgery_at) < now - timedelta(days=days),
        )
        for days in retentions
    ]
    rows = session.execute(
        select_columns(
            col(Patient.id), col(Patient.clinic_id), col(Patient.created_at),
            col(Patient.surgery_at), col(Patient.timezone), col(Patient.plan_days),
            col(Clinic.retention_days),
        )
        .join(Clinic, col(Clinic.id) == Patient.clinic_id)
        .where(
            col(Patient.anonymised_at).is_(None),
            col(Patient.surgery_at) < now - timedelta(days=retentions[0]),
            or_(*older_than),
        )
        .order_by(col(Patient.surgery_at))
    ).all()  # fmt: skip
    return [
        DuePatient(row.id, row.clinic_id, row.created_at, row.surgery_at, row.retention_days)
        for row in rows
        if is_due(
            plan_ends_at(row.surgery_at, row.timezone, row.plan_days), row.retention_days, now
        )
    ]


# The answers go too; the day, the time, the severity and the reasons' codes stay: they
# are what the report counts.
NO_ANSWERS: dict[str, None] = dict.fromkeys(
    ("pain", "temperature_c", "bleeding", "discharge", "urination", "allergy", "nausea",
     "wants_contact")
)  # fmt: skip


def anonymise_patient(session: Session, due: DuePatient, now: datetime) -> bool:
    """Anonymise one patient in the caller's transaction; False if already done.

    The conditional update makes it safe to run twice, or in two workers at once:
    only one of them changes the row and goes on; nor does it touch a patient
    whose surgery a nurse moved since the job found them due.
    """
    moved = session.execute(
        update(Patient)
        .where(
            col(Patient.id) == due.id,
            col(Patient.anonymised_at).is_(None),
            col(Patient.surgery_at) == due.surgery_at,
        )
        .values(
            alias=ANONYMISED_ALIAS,
            email=None,
            phone=None,
            phone_safe_to_call=False,
            phone_leave_message=False,
            phone_best_time=None,
            followup_at=None,
            followup_place=None,
            channels=["in-app"],
            prescribed=[],
            # The old feed address stops working; nobody is told the new one.
            calendar_token=secrets.token_urlsafe(24),
            anonymised_at=now,
        )
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    checkin_ids = list(session.exec(select(CheckIn.id).where(CheckIn.patient_id == due.id)))
    flag_ids = list(session.exec(select(Flag.id).where(Flag.patient_id == due.id)))
    session.execute(
        update(CheckIn)
        .where(col(CheckIn.patient_id) == due.id)
        .values(note="", advice="", body_digest=NO_DIGEST, **NO_ANSWERS)
    )
    session.execute(update(Flag).where(col(Flag.patient_id) == due.id).values(resolution_note=None))
    # The report counts check-in days; the other items (prescriptions among them) go.
    session.exec(
        delete(PlanItem).where(col(PlanItem.patient_id) == due.id, col(PlanItem.kind) != "check-in")
    )
    session.exec(
        delete(Reminder).where(reminders_about(due.id, flag_ids), col(Reminder.status) == "pending")
    )
    cut_contact(session, due.id)
    forget_audit_details(session, due.clinic_id, due.enrolled_from, due.id, checkin_ids, flag_ids)
    record(session, now, due.clinic_id, "system", None, "patient.anonymised", "patient", due.id,
           retention_days=due.retention_days)  # fmt: skip
    return True


def _in_batches(items: Sequence[DuePatient]) -> list[Sequence[DuePatient]]:
    return [items[start : start + BATCH] for start in range(0, len(items), BATCH)]


def anonymise_due_patients(sessions: Sessions, writer: Writer, now: datetime) -> int:
    """The retention job: anonymise every patient due; returns how many were.

    When nobody is due it reads and writes nothing more than `due_patients`.
    On SQLite, what was overwritten or deleted is then cleared from the files.
    """
    with sessions() as session:
        due = due_patients(session, now)
    if not due:
        return 0

    anonymised = 0
    for batch in _in_batches(due):

        def job(db: Session, batch: Sequence[DuePatient] = batch) -> int:
            return sum(anonymise_patient(db, patient, now) for patient in batch)

        anonymised += writer.run(job)
    if anonymised:
        with sessions() as session:
            forget_deleted_pages(session)
        log.info("anonymised %d patient(s) past their clinic's retention", anonymised)
    return anonymised
