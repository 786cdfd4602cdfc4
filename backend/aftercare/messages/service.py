"""The private thread between a patient and their clinic: reading, writing, unread counts.

Each function owns its transaction and commits it. The patient is told of a
nurse's message through their reminder channels with neutral words only
(reminders/texts.py); the message itself is read inside the app.
"""

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from aftercare.accounts.models import Nurse, shown_name
from aftercare.accounts.throttle import at_human_pace
from aftercare.audit.service import record
from aftercare.db import Prepared, Reads
from aftercare.messages.models import Message
from aftercare.messages.schemas import MessagePublic, PatientMessageCreate, Sender
from aftercare.patients.models import Patient
from aftercare.plans.engine import WakeWindow, resolve_local
from aftercare.reminders.outbox import queue_now

VIEWED = "patient.messages.viewed"
SENT = "message.sent"
INBOX_SIZE = 200


@dataclass(frozen=True)
class Entry:
    """A message as the pages and the API show it (plain values, safe after a commit)."""

    id: uuid.UUID
    sender: Sender
    body: str
    created_at: datetime
    read_at: datetime | None
    # Only for the console: the patient is never told which nurse wrote.
    nurse_name: str | None = None

    def public(self) -> MessagePublic:
        return MessagePublic(
            id=self.id,
            sender=self.sender,
            body=self.body,
            created_at=self.created_at,
            read_at=self.read_at,
        )


@dataclass(frozen=True)
class Sent:
    """A patient's message as stored; `created` is False when the same one came again."""

    entry: Entry
    created: bool


@dataclass(frozen=True)
class ThreadSummary:
    """One line of the console's inbox."""

    patient_id: uuid.UUID
    alias: str
    last_at: datetime
    unread: int


def _entry(message: Message, nurse_name: str | None = None) -> Entry:
    sender: Sender = "nurse" if message.sender == "nurse" else "patient"
    return Entry(message.id, sender, message.body, message.created_at, message.read_at, nurse_name)


def _entries(session: Session, patient_id: uuid.UUID, with_nurses: bool) -> list[Entry]:
    """The whole thread, oldest first (the id breaks ties of the same instant)."""
    order = (col(Message.created_at), col(Message.id))
    if not with_nurses:
        rows = session.exec(
            select(Message).where(Message.patient_id == patient_id).order_by(*order)
        )
        return [_entry(message) for message in rows]
    joined = session.exec(
        select(Message, shown_name(Nurse))
        .join(Nurse, col(Nurse.id) == Message.nurse_id, isouter=True)
        .where(Message.patient_id == patient_id)
        .order_by(*order)
    )
    return [_entry(message, email) for message, email in joined]


def _mark_read(
    session: Session, entries: list[Entry], sender: Sender, now: datetime
) -> list[Entry]:
    """Mark the other side's unread messages read; only those shown, not one arriving meanwhile."""
    unread = [entry.id for entry in entries if entry.sender == sender and entry.read_at is None]
    if not unread:
        return entries
    session.execute(update(Message).where(col(Message.id).in_(unread)).values(read_at=now))
    return [replace(entry, read_at=now) if entry.id in unread else entry for entry in entries]


def read_by_nurse(
    session: Session,
    patient: Patient,
    nurse_id: uuid.UUID,
    now: datetime,
    client: str | None = None,
) -> list[Entry]:
    """The thread as a nurse sees it; the patient's messages are read from now on. Audited."""
    entries = _mark_read(session, _entries(session, patient.id, with_nurses=True), "patient", now)
    record(session, now, patient.clinic_id, "nurse", nurse_id, VIEWED, "patient", patient.id,
           client=client)  # fmt: skip
    session.flush()
    return entries


def read_by_patient(
    session: Session, patient: Patient, now: datetime, mark: bool = True
) -> list[Entry]:
    """The thread as the patient sees it; `mark` is False when no one is looking (a pre-fetch)."""
    entries = _entries(session, patient.id, with_nurses=False)
    if mark:
        entries = _mark_read(session, entries, "nurse", now)
        session.flush()
    return entries


MESSAGES_PER_WINDOW = 20
MESSAGE_WINDOW = timedelta(minutes=10)


def _at_human_pace(session: Session, patient: Patient, sender: str, now: datetime) -> None:
    """Each side of a thread writes at a person's pace; a loop or a script is stopped."""
    sent = session.exec(
        select(func.count())
        .select_from(Message)
        .where(
            Message.patient_id == patient.id,
            Message.sender == sender,
            col(Message.created_at) > now - MESSAGE_WINDOW,
        )
    ).one()
    at_human_pace(sent, MESSAGES_PER_WINDOW, MESSAGE_WINDOW)


def send_by_nurse(
    session: Session,
    patient: Patient,
    nurse_id: uuid.UUID,
    body: str,
    now: datetime,
    client: str | None = None,
) -> Entry:
    """Store a nurse's message and tell the patient, neutrally, that one is waiting."""
    _at_human_pace(session, patient, "nurse", now)
    message = Message(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        sender="nurse",
        nurse_id=nurse_id,
        body=body,
        created_at=now,
    )
    session.add(message)
    _tell_patient(session, patient, message.id, now)
    # The audit row says that a message went, never what it said.
    record(session, now, patient.clinic_id, "nurse", nurse_id, SENT, "patient", patient.id,
           client=client, message=str(message.id))  # fmt: skip
    entry = _entry(message)
    session.flush()
    return entry


def send_by_patient(
    session: Session,
    patient: Patient,
    body: PatientMessageCreate,
    now: datetime,
    client: str | None = None,
    written_at: datetime | None = None,
) -> Sent | None:
    """Store a patient's message once per id; None when the id is taken by another message.

    `written_at` is when the phone says the patient pressed Send (a reply kept
    offline is placed when it was written, not when the network came back).
    """
    if body.id is not None:
        existing = session.get(Message, body.id)
        if existing is not None:
            return _same(existing, patient, body.body)
    _at_human_pace(session, patient, "patient", now)
    message = Message(
        id=body.id or uuid.uuid4(),
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        sender="patient",
        body=body.body,
        created_at=written_at or now,
    )
    entry = _entry(message)
    session.add(message)
    record(session, now, patient.clinic_id, "patient", patient.id, SENT, "patient", patient.id,
           client=client, message=str(message.id))  # fmt: skip
    try:
        session.flush()
    except IntegrityError:
        # The same reply, sent twice at once (a double tap while the queue replays).
        session.rollback()
        existing = session.get(Message, message.id)
        if existing is None:
            raise
        return _same(existing, patient, body.body)
    return Sent(entry, created=True)


def _same(existing: Message, patient: Patient, body: str) -> Sent | None:
    mine = existing.patient_id == patient.id and existing.sender == "patient"
    return Sent(_entry(existing), created=False) if mine and existing.body == body else None


def _awake_at(patient: Patient, now: datetime) -> datetime:
    """Now, or the patient's next waking time: a phone must not buzz in their quiet hours."""
    zone = ZoneInfo(patient.timezone)
    local = now.astimezone(zone)
    window = WakeWindow(patient.wake_time, patient.sleep_time)
    if window.wake <= local.time() < window.sleep:
        return now
    day = local.date() if local.time() < window.wake else local.date() + timedelta(days=1)
    return resolve_local(day, window.wake, zone, window).astimezone(UTC)


def _tell_patient(session: Session, patient: Patient, message_id: uuid.UUID, now: datetime) -> None:
    """One outbox row per channel the patient chose; reminders/texts.py words it neutrally."""
    due_at = _awake_at(patient, now)
    queue_now(session, patient, "message", now, tag=f"message-{message_id}", due_at=due_at)


# Every page of a signed-in phone shows the count: on the driver's cursor (db.Prepared).
_UNREAD_FOR_PATIENT = Prepared(
    lambda _dialect: select(func.count()).where(
        Message.patient_id == bindparam("patient_id"),
        Message.sender == "nurse",
        col(Message.read_at).is_(None),
    )
)


def unread_for_patient(session: Reads, patient_id: uuid.UUID) -> int:
    """The nurses' messages the patient has not opened yet."""
    return int(_UNREAD_FOR_PATIENT.run(session, patient_id=patient_id).fetchone()[0])


def unread_for_clinic(session: Session, clinic_id: uuid.UUID) -> int:
    """Patients' messages no nurse of the clinic has opened yet (for a nav badge)."""
    count = session.exec(
        select(func.count()).where(
            Message.clinic_id == clinic_id,
            Message.sender == "patient",
            col(Message.read_at).is_(None),
        )
    ).one()
    return int(count)


def inbox(session: Session, clinic_id: uuid.UUID, limit: int = INBOX_SIZE) -> list[ThreadSummary]:
    """The clinic's threads: those with unread patient messages first, then the most recent."""
    unread = func.sum(
        case((and_(col(Message.sender) == "patient", col(Message.read_at).is_(None)), 1), else_=0)
    )
    last_at = func.max(col(Message.created_at))
    rows = session.exec(
        select(col(Message.patient_id), col(Patient.alias), last_at, unread)
        .join(Patient, col(Patient.id) == Message.patient_id)
        .where(Message.clinic_id == clinic_id)
        .group_by(col(Message.patient_id), col(Patient.alias))
        .order_by(case((unread > 0, 0), else_=1), last_at.desc(), col(Message.patient_id))
        .limit(limit)
    ).all()
    return [
        ThreadSummary(patient_id, alias, last, int(count or 0))
        for patient_id, alias, last, count in rows
    ]
