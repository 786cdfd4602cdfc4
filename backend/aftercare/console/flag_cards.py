"""The queue as the console shows it: one card per patient, with the patient's day, every
waiting flag's reasons, answers and wait.

Built for the queue page's budget (100,000 patients and 10,000 open flags cost the
page little more than an empty clinic): the page of cards and the counts are read
through the queue_card indexes (flags.cards keeps them), then only the flags of the
cards shown. Nothing is read per flag or per card.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic, Nurse, shown_name
from aftercare.checkins.models import CheckIn
from aftercare.flags.cards import WAITING
from aftercare.flags.models import SEVERITY_ORDER, Flag, QueueCard
from aftercare.flags.service import reasons_in
from aftercare.patients.models import Patient
from aftercare.plans.engine import recovery_day_of
from aftercare.protocols.loader import Protocol

PAGE = 50


@dataclass(frozen=True)
class QueueCounts:
    """How many patients wait, by their worst severity and whether something of theirs is
    still unacknowledged ("open"), and a fingerprint of the queue.

    The fingerprint changes when a flag arrives, is acknowledged or resolved: the
    counts move, or the card it is on was changed last.
    """

    red_open: int = 0
    red_acknowledged: int = 0
    amber_open: int = 0
    amber_acknowledged: int = 0
    version: str = "empty"

    @property
    def red(self) -> int:
        return self.red_open + self.red_acknowledged

    @property
    def amber(self) -> int:
        return self.amber_open + self.amber_acknowledged

    @property
    def total(self) -> int:
        return self.red + self.amber

    def as_event(self) -> dict[str, Any]:
        """The small JSON the live queue sends."""
        return {
            "red": self.red,
            "amber": self.amber,
            "red_open": self.red_open,
            "amber_open": self.amber_open,
            "total": self.total,
            "version": self.version,
        }


def _count(severity: str, *more: Any) -> Any:
    order = col(QueueCard.severity_order) == SEVERITY_ORDER[severity]
    return select_columns(func.count()).where(_IN_CLINIC, order, *more).scalar_subquery()


# Built once: a statement made per request costs more than the indexed read it does.
_IN_CLINIC = col(QueueCard.clinic_id) == bindparam("clinic_id")
_UNACKNOWLEDGED = col(QueueCard.unacknowledged) > 0
_COUNTS = select_columns(
    _count("red"),
    _count("red", _UNACKNOWLEDGED),
    _count("amber"),
    _count("amber", _UNACKNOWLEDGED),
    select_columns(func.max(QueueCard.updated_at)).where(_IN_CLINIC).scalar_subquery(),
)


def queue_counts(session: Session, clinic_id: uuid.UUID) -> QueueCounts:
    """The patients waiting, by their worst severity and whether any of their flags is
    still unacknowledged ("open"), and a fingerprint of the queue: small counts through
    the card indexes, never a walk over every flag (nor a grouping of every card)."""
    counts = session.connection().execute(_COUNTS, {"clinic_id": clinic_id})
    red, red_open, amber, amber_open, changed = counts.one()
    if not red and not amber:
        return QueueCounts()
    fingerprint = f"{red}:{red_open}:{amber}:{amber_open}:{changed}"
    return QueueCounts(
        red_open=red_open,
        red_acknowledged=red - red_open,
        amber_open=amber_open,
        amber_acknowledged=amber - amber_open,
        version=hashlib.sha256(fingerprint.encode()).hexdigest()[:16],
    )


def read_counts(engine: Engine, clinic_id: uuid.UUID) -> QueueCounts:
    """The counts in a short session of their own (the live queue polls with it)."""
    with Session(engine) as session:
        return queue_counts(session, clinic_id)


# --- One card per patient ---


@dataclass(frozen=True)
class WaitingFlag:
    """One of a patient's waiting flags on their card, with the check-in behind it."""

    id: uuid.UUID
    severity: str
    status: str
    reasons: list[str]
    created_at: datetime
    age_minutes: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    checkin: "Answers | None"  # None for a silence


@dataclass(frozen=True)
class PatientCard:
    """A patient in the queue: the worst of their waiting flags, each one newest first."""

    patient_id: uuid.UUID
    alias: str
    language: str
    severity: str
    day: int | None
    plan_days: int
    flags: list[WaitingFlag]
    # How long the oldest flag nobody acknowledged has waited (None: all acknowledged).
    unacknowledged_minutes: int | None
    late: bool
    target_minutes: int
    # How to call the patient back: shown only here, never in a notification.
    phone: str | None = None
    phone_safe_to_call: bool = False
    phone_leave_message: bool = False
    phone_best_time: str | None = None

    @property
    def unacknowledged(self) -> list[WaitingFlag]:
        return [flag for flag in self.flags if flag.status == "open"]


# What a card shows of the check-in behind a flag: its answers and note.
_ANSWER_COLUMNS = (
    col(CheckIn.pain), col(CheckIn.temperature_c), col(CheckIn.bleeding),
    col(CheckIn.discharge), col(CheckIn.urination), col(CheckIn.allergy),
    col(CheckIn.nausea), col(CheckIn.wants_contact), col(CheckIn.note),
)  # fmt: skip


@dataclass(frozen=True)
class Answers:
    pain: int | None
    temperature_c: float | None
    bleeding: str | None
    discharge: str | None
    urination: str | None
    allergy: str | None
    nausea: bool | None
    wants_contact: bool | None
    note: str


# The page of cards through the card index, with the patient columns a card shows.
_CARDS = (
    select_columns(
        col(QueueCard.patient_id),
        col(QueueCard.severity_order),
        col(QueueCard.oldest_unacknowledged_at),
        col(Patient.alias),
        col(Patient.language),
        col(Patient.protocol_id),
        col(Patient.surgery_at),
        col(Patient.timezone),
        col(Patient.plan_days),
        col(Patient.phone),
        col(Patient.phone_safe_to_call),
        col(Patient.phone_leave_message),
        col(Patient.phone_best_time),
    )
    .join(Patient, col(Patient.id) == QueueCard.patient_id)
    .where(_IN_CLINIC)
    .order_by(col(QueueCard.severity_order), col(QueueCard.sort_at), col(QueueCard.patient_id))
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_ACKNOWLEDGER = aliased(Nurse)
# The waiting flags of the cards shown, newest first, with the check-in behind each.
_WAITING_FLAGS = (
    select_columns(
        col(Flag.id),
        col(Flag.patient_id),
        col(Flag.severity),
        col(Flag.status),
        col(Flag.reasons),
        col(Flag.created_at),
        col(Flag.acknowledged_at),
        shown_name(_ACKNOWLEDGER),
        col(Flag.checkin_id),
        *_ANSWER_COLUMNS,
    )
    .outerjoin(CheckIn, col(CheckIn.id) == Flag.checkin_id)
    .outerjoin(_ACKNOWLEDGER, col(_ACKNOWLEDGER.id) == Flag.acknowledged_by)
    .where(
        col(Flag.patient_id).in_(bindparam("patients", expanding=True)),
        col(Flag.status).in_(WAITING),
    )
    .order_by(col(Flag.created_at).desc(), col(Flag.id))
)


def patient_cards(
    session: Session,
    clinic: Clinic,
    protocols: dict[str, Protocol],
    language: str,
    now: datetime,
    *,
    limit: int = PAGE,
    offset: int = 0,
) -> list[PatientCard]:
    """The queue: one card per patient, red first, then the longest unacknowledged wait.

    Three indexed queries whatever the queue's length (the page of cards through the
    card index, their patients, their waiting flags with the check-ins behind them),
    reading the columns shown and no more.
    """
    # Plain rows through the session's connection: nothing here needs the ORM's loading.
    connection = session.connection()
    page = connection.execute(
        _CARDS, {"clinic_id": clinic.id, "limit": limit, "offset": offset}
    ).all()
    if not page:
        return []
    protocol_of = {row.patient_id: protocols.get(row.protocol_id) for row in page}
    rows = connection.execute(_WAITING_FLAGS, {"patients": list(protocol_of)}).all()
    flags: dict[uuid.UUID, list[WaitingFlag]] = {patient_id: [] for patient_id in protocol_of}
    for row in rows:
        (flag_id, patient_id, severity, status, reasons, created_at, acknowledged_at,
         acknowledged_by, checkin_id, *answers) = row  # fmt: skip
        flags[patient_id].append(
            WaitingFlag(
                id=flag_id,
                severity=severity,
                status=status,
                reasons=[
                    reason.message
                    for reason in reasons_in(reasons, protocol_of[patient_id], language)
                ],
                created_at=created_at,
                age_minutes=_minutes(now, created_at),
                acknowledged_by=acknowledged_by,
                acknowledged_at=acknowledged_at,
                checkin=Answers(*answers) if checkin_id is not None else None,
            )
        )
    cards = []
    for row in page:
        waiting = flags[row.patient_id]
        since = row.oldest_unacknowledged_at
        cards.append(
            PatientCard(
                patient_id=row.patient_id,
                alias=row.alias,
                language=row.language,
                severity="red" if row.severity_order == SEVERITY_ORDER["red"] else "amber",
                day=recovery_day_of(row.surgery_at, row.timezone, now),
                plan_days=row.plan_days,
                phone=row.phone,
                phone_safe_to_call=row.phone_safe_to_call,
                phone_leave_message=row.phone_leave_message,
                phone_best_time=row.phone_best_time,
                flags=waiting,
                unacknowledged_minutes=_minutes(now, since) if since else None,
                # The clinic's target is for red flags; only a wait nobody answered is late.
                late=any(
                    flag.status == "open"
                    and flag.severity == "red"
                    and flag.age_minutes > clinic.ack_target_minutes
                    for flag in waiting
                ),
                target_minutes=clinic.ack_target_minutes,
            )
        )
    return cards


def _minutes(now: datetime, since: datetime) -> int:
    return max(0, int((now - since).total_seconds() // 60))
