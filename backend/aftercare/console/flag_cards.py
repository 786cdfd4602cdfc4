"""Flags as the console shows them: cards with the patient's day, the reasons and the wait.

Built for the queue page's budget (the first 50 of 10,000 open flags in well
under 50 ms): one grouped count over the queue index, and one query for the
page of flags with their patients and nurses. Nothing is read per flag.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy import select as select_columns
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic, Nurse, shown_name
from aftercare.checkins.models import CheckIn
from aftercare.checkins.rules import Evidence, reason_message
from aftercare.flags.models import SEVERITY_ORDER, SEVERITY_RANK, Flag, QueueCard
from aftercare.patients.models import Patient
from aftercare.patients.service import recovery_day, recovery_day_of
from aftercare.protocols.loader import Protocol

WAITING: tuple[str, ...] = ("open", "acknowledged")
PAGE = 50
_SEVERITY_OF_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}


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


@dataclass(frozen=True)
class FlagCard:
    """One flag, ready to show: no further query and no arithmetic in the template."""

    id: uuid.UUID
    patient_id: uuid.UUID
    alias: str
    severity: str
    status: str
    reasons: list[str]
    created_at: datetime
    age_minutes: int
    # Waiting for acknowledgement past the clinic's target (red flags only).
    late: bool
    target_minutes: int
    day: int | None
    plan_days: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_outcome: str | None
    resolution_note: str | None


def queue_counts(session: Session, clinic_id: uuid.UUID) -> QueueCounts:
    """The patients waiting, by their worst severity and whether any of their flags is
    still unacknowledged ("open"), and a fingerprint of the queue: small counts through
    the card indexes, never a walk over every flag (nor a grouping of every card)."""
    clinic = col(QueueCard.clinic_id) == clinic_id

    def count(severity: str, *more: Any) -> Any:
        order = col(QueueCard.severity_order) == SEVERITY_ORDER[severity]
        return select_columns(func.count()).where(clinic, order, *more).scalar_subquery()

    unacknowledged = col(QueueCard.unacknowledged) > 0
    red, red_open, amber, amber_open, changed = session.execute(
        select_columns(
            count("red"),
            count("red", unacknowledged),
            count("amber"),
            count("amber", unacknowledged),
            select_columns(func.max(QueueCard.updated_at)).where(clinic).scalar_subquery(),
        )
    ).one()
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


def _reason_texts(reasons: list[dict[str, Any]], protocol: Protocol | None, lang: str) -> list[str]:
    # The evidence is stored as data; the words come from the procedure's
    # rules, in the reader's language, with the answers filled in.
    rules = {rule.code: rule for rule in protocol.rules} if protocol else {}
    return [
        reason_message(
            rules.get(raw["code"]),
            Evidence(raw["code"], raw["severity"], raw.get("value"), raw.get("previous")),
            lang,
        )
        for raw in reasons
    ]


def flag_cards(
    session: Session,
    clinic: Clinic,
    protocols: dict[str, Protocol],
    language: str,
    now: datetime,
    *,
    statuses: tuple[str, ...] = WAITING,
    patient_id: uuid.UUID | None = None,
    limit: int = PAGE,
    offset: int = 0,
) -> list[FlagCard]:
    """A clinic's flags in queue order (red before amber, then oldest first), as cards."""
    # The page of flags is chosen first, from the flag table alone; only those
    # 50 are then joined to their patients and nurses. Joining first would
    # join every waiting flag before the sort (150 ms with 10,000 of them).
    conditions = [col(Flag.clinic_id) == clinic.id, col(Flag.status).in_(statuses)]
    if patient_id is not None:
        conditions.append(col(Flag.patient_id) == patient_id)
    page = (
        select_columns(
            col(Flag.id).label("id"),
            col(Flag.severity_rank).label("rank"),
            col(Flag.created_at).label("created"),
        )
        .where(*conditions)
        .order_by(col(Flag.severity_rank).desc(), col(Flag.created_at), col(Flag.id))
        .limit(limit)
        .offset(offset)
        .subquery("page")
    )
    acknowledger, resolver = aliased(Nurse), aliased(Nurse)
    rows = session.execute(
        select_columns(Flag, Patient, shown_name(acknowledger), shown_name(resolver))
        .select_from(page)
        .join(Flag, col(Flag.id) == page.c.id)
        .join(Patient, col(Patient.id) == Flag.patient_id)
        .outerjoin(acknowledger, col(acknowledger.id) == Flag.acknowledged_by)
        .outerjoin(resolver, col(resolver.id) == Flag.resolved_by)
        .order_by(page.c.rank.desc(), page.c.created, page.c.id)
    ).all()
    cards = []
    for flag, patient, acked_by, resolved_by in rows:
        age = max(0, int((now - flag.created_at).total_seconds() // 60))
        # Only what is still unacknowledged can be late; the target is for red flags.
        late = flag.status == "open" and flag.severity == "red" and age > clinic.ack_target_minutes
        cards.append(
            FlagCard(
                id=flag.id,
                patient_id=flag.patient_id,
                alias=patient.alias,
                severity=flag.severity,
                status=flag.status,
                reasons=_reason_texts(flag.reasons, protocols.get(patient.protocol_id), language),
                created_at=flag.created_at,
                age_minutes=age,
                late=late,
                target_minutes=clinic.ack_target_minutes,
                day=recovery_day(patient, now),
                plan_days=patient.plan_days,
                acknowledged_by=acked_by,
                acknowledged_at=flag.acknowledged_at,
                resolved_by=resolved_by,
                resolved_at=flag.resolved_at,
                resolution_outcome=flag.resolution_outcome,
                resolution_note=flag.resolution_note,
            )
        )
    return cards


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
    page = session.execute(
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
        )
        .join(Patient, col(Patient.id) == QueueCard.patient_id)
        .where(col(QueueCard.clinic_id) == clinic.id)
        .order_by(col(QueueCard.severity_order), col(QueueCard.sort_at), col(QueueCard.patient_id))
        .limit(limit)
        .offset(offset)
    ).all()
    if not page:
        return []
    protocol_of = {row.patient_id: protocols.get(row.protocol_id) for row in page}
    acknowledger = aliased(Nurse)
    rows = session.execute(
        select_columns(
            col(Flag.id),
            col(Flag.patient_id),
            col(Flag.severity),
            col(Flag.status),
            col(Flag.reasons),
            col(Flag.created_at),
            col(Flag.acknowledged_at),
            shown_name(acknowledger),
            col(Flag.checkin_id),
            *_ANSWER_COLUMNS,
        )
        .outerjoin(CheckIn, col(CheckIn.id) == Flag.checkin_id)
        .outerjoin(acknowledger, col(acknowledger.id) == Flag.acknowledged_by)
        .where(col(Flag.patient_id).in_(list(protocol_of)), col(Flag.status).in_(WAITING))
        .order_by(col(Flag.created_at).desc(), col(Flag.id))
    ).all()
    flags: dict[uuid.UUID, list[WaitingFlag]] = {patient_id: [] for patient_id in protocol_of}
    for row in rows:
        (flag_id, patient_id, severity, status, reasons, created_at, acknowledged_at,
         acknowledged_by, checkin_id, *answers) = row  # fmt: skip
        flags[patient_id].append(
            WaitingFlag(
                id=flag_id,
                severity=severity,
                status=status,
                reasons=_reason_texts(reasons, protocol_of[patient_id], language),
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
