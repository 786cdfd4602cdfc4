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
from aftercare.checkins.rules import Evidence, reason_message
from aftercare.flags.models import SEVERITY_RANK, Flag
from aftercare.patients.models import Patient
from aftercare.patients.service import recovery_day
from aftercare.protocols.loader import Protocol

WAITING: tuple[str, ...] = ("open", "acknowledged")
PAGE = 50
_SEVERITY_OF_RANK = {rank: severity for severity, rank in SEVERITY_RANK.items()}


@dataclass(frozen=True)
class QueueCounts:
    """How many flags wait, by severity and status, and a fingerprint of the queue.

    The fingerprint changes when a flag arrives, is acknowledged or resolved:
    the counts move, or (a flag resolved while another arrived) the newest
    waiting flag is another one.
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
    """The clinic's waiting flags counted by severity and status (the queue index covers it)."""
    rows = session.execute(
        select_columns(
            col(Flag.severity_rank), col(Flag.status), func.count(), func.max(Flag.created_at)
        )
        .where(col(Flag.clinic_id) == clinic_id, col(Flag.status).in_(WAITING))
        .group_by(col(Flag.severity_rank), col(Flag.status))
    ).all()
    counts: dict[str, int] = {}
    fingerprint: list[str] = []
    for rank, status, count, newest in sorted(rows, key=lambda row: (row[0], row[1])):
        counts[f"{_SEVERITY_OF_RANK.get(rank, 'amber')}_{status}"] = int(count)
        fingerprint.append(f"{rank}:{status}:{count}:{newest}")
    version = hashlib.sha256("|".join(fingerprint).encode()).hexdigest()[:16] if rows else "empty"
    return QueueCounts(version=version, **counts)


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
