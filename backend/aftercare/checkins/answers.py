"""The answers the patient was given, as their phone shows them again.

A check-in's answer stays in force until the clinic has seen it: Today repeats
the instruction (with its call buttons) while its flag is still open, and an
answer the patient never saw (a check-in sent later from the phone's queue) is
shown until they have read it.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from aftercare.checkins.models import CheckIn
from aftercare.db import Prepared, Reads, as_json, as_utc, as_uuid
from aftercare.flags.models import Flag
from aftercare.flags.rules import Evidence, Severity, Verdict, calls_for
from aftercare.flags.schemas import Reason
from aftercare.patients.models import Patient
from aftercare.patients.service import Phone
from aftercare.plans.models import PlanItem
from aftercare.protocols.loader import Protocol


@dataclass(frozen=True, slots=True)
class KeptCheckIn:
    """What Today shows of a stored check-in: `CheckIn`'s fields of the same names, read
    as plain values on the driver's cursor."""

    id: uuid.UUID
    day: int
    recorded_at: datetime
    answer_seen_at: datetime | None
    clinic_seen_at: datetime | None
    wants_contact: bool | None
    severity: str
    reasons: list[dict[str, Any]]
    advice: str


@dataclass(frozen=True)
class ShownAnswer:
    """A stored check-in and its answer, on the patient's clock."""

    checkin: CheckIn | KeptCheckIn
    recorded_at: datetime  # in the patient's zone
    reasons: list[Reason]
    calls: tuple[str, ...]  # "clinic" and/or "emergency", the first being the one to call first
    flag_open: bool  # no nurse has seen it yet
    seen_by_clinic_at: datetime | None  # in the patient's zone

    @property
    def seen_by_clinic_same_day(self) -> bool:
        return self.seen_by_clinic_at is not None and (
            self.seen_by_clinic_at.date() == self.recorded_at.date()
        )

    @property
    def severity(self) -> str:
        return self.checkin.severity

    @property
    def advice(self) -> str:
        return self.checkin.advice


@dataclass(frozen=True)
class TodayCheckIn:
    """What Today says about checking in."""

    latest_today: ShownAnswer | None
    unseen: ShownAnswer | None  # an answer sent from the phone's queue, not read yet
    next_at: datetime | None  # the next planned check-in, in the patient's zone


def _calls(row: CheckIn | KeptCheckIn, protocol: Protocol | None, language: str) -> tuple[str, ...]:
    if protocol is None or row.severity == "none":
        return ("clinic", "emergency") if row.severity == "red" else ()
    rules = {rule.code: rule for rule in protocol.rules}
    reasons = tuple(
        Evidence(reason["code"], rules[reason["code"]].severity)
        for reason in row.reasons
        if reason["code"] in rules
    )
    severity: Severity = "red" if row.severity == "red" else "amber"
    return calls_for(Verdict(severity, reasons), rules, language)


def _flag_status(session: Session, checkin_id: uuid.UUID) -> str | None:
    return session.exec(select(Flag.status).where(Flag.checkin_id == checkin_id)).first()


def _shown(
    row: CheckIn | KeptCheckIn,
    flag_status: str | None,
    patient: Patient | Phone,
    protocol: Protocol | None,
) -> ShownAnswer:
    zone = ZoneInfo(patient.timezone)
    return ShownAnswer(
        checkin=row,
        recorded_at=row.recorded_at.astimezone(zone),
        reasons=[Reason.model_validate(reason) for reason in row.reasons],
        calls=_calls(row, protocol, patient.language),
        flag_open=flag_status == "open",
        seen_by_clinic_at=row.clinic_seen_at.astimezone(zone) if row.clinic_seen_at else None,
    )


def answer_of(
    session: Session, patient: Patient, checkin_id: uuid.UUID, protocol: Protocol | None
) -> ShownAnswer | None:
    """One of the patient's own check-ins; another patient's is None, like a missing one."""
    row = session.get(CheckIn, checkin_id)
    if row is None or row.patient_id != patient.id:
        return None
    return _shown(row, _flag_status(session, row.id), patient, protocol)


def mark_seen(session: Session, patient: Patient, checkin_id: uuid.UUID, now: datetime) -> None:
    row = session.get(CheckIn, checkin_id)
    if row is not None and row.patient_id == patient.id and row.answer_seen_at is None:
        row.answer_seen_at = now
        session.add(row)
        session.flush()


# Today runs them on every visit: on the driver's cursor (aftercare.db.Prepared). A
# check-in's flag status comes with it.
_CHECKINS = CheckIn.__table__.c  # type: ignore[attr-defined]
_KEPT = (_CHECKINS.id, _CHECKINS.day, _CHECKINS.recorded_at, _CHECKINS.answer_seen_at,
         _CHECKINS.clinic_seen_at, _CHECKINS.wants_contact, _CHECKINS.severity,
         _CHECKINS.reasons, _CHECKINS.advice)  # fmt: skip


def _kept(unseen_only: bool) -> Any:
    flag_status = (
        select_columns(col(Flag.status))
        .where(col(Flag.checkin_id) == _CHECKINS.id)
        .limit(1)
        .scalar_subquery()
    )
    chosen = select_columns(*_KEPT, flag_status).where(
        _CHECKINS.patient_id == bindparam("patient_id")
    )
    if unseen_only:
        chosen = chosen.where(_CHECKINS.answer_seen_at.is_(None))
    return chosen.order_by(_CHECKINS.recorded_at.desc()).limit(1)


_LATEST = Prepared(lambda _dialect: _kept(unseen_only=False))
_LATEST_UNSEEN = Prepared(lambda _dialect: _kept(unseen_only=True))
_NEXT_DUE = Prepared(
    lambda _dialect: (
        select_columns(col(PlanItem.due_at), col(PlanItem.day))
        .where(
            col(PlanItem.patient_id) == bindparam("patient_id"),
            col(PlanItem.kind) == "check-in",
            col(PlanItem.due_at).is_not(None),
            col(PlanItem.due_at) > bindparam("now"),
        )
        .order_by(col(PlanItem.due_at))
        .limit(2)
    )
)


def _kept_row(row: Any) -> tuple[KeptCheckIn, str | None]:
    (checkin_id, day, recorded_at, answer_seen_at, clinic_seen_at, wants_contact, severity,
     reasons, advice, flag_status) = row  # fmt: skip
    kept = KeptCheckIn(
        as_uuid(checkin_id), day, as_utc(recorded_at), as_utc(answer_seen_at),
        as_utc(clinic_seen_at), None if wants_contact is None else bool(wants_contact),
        severity, as_json(reasons), advice,
    )  # fmt: skip
    return kept, flag_status


def today_check_in(
    session: Reads,
    patient: Patient | Phone,
    protocol: Protocol | None,
    day: int | None,
    now: datetime,
) -> TodayCheckIn:
    found = _LATEST.run(session, patient_id=patient.id).fetchone()
    latest = _kept_row(found) if found is not None else None
    # Mostly the latest answer is the one not read yet, or every answer has been read:
    # the second query is needed only when an older one was never read.
    unseen = latest if latest is not None and latest[0].answer_seen_at is None else None
    if latest is not None and unseen is None:
        older = _LATEST_UNSEEN.run(session, patient_id=patient.id).fetchone()
        unseen = _kept_row(older) if older is not None else None
    checked_in = {latest[0].day} if latest is not None and latest[0].day == day else set()
    next_due = _NEXT_DUE.run(session, patient_id=patient.id, now=now).fetchall()
    # Today's check-in already done: the next one is a later day's.
    upcoming = [as_utc(due_at) for due_at, plan_day in next_due if plan_day not in checked_in]
    zone = ZoneInfo(patient.timezone)
    shown_unseen = _shown(*unseen, patient, protocol) if unseen is not None else None
    shown_latest = None
    if checked_in and latest is not None:
        same = shown_unseen is not None and unseen is latest
        shown_latest = shown_unseen if same else _shown(*latest, patient, protocol)
    return TodayCheckIn(
        latest_today=shown_latest,
        unseen=shown_unseen,
        next_at=upcoming[0].astimezone(zone) if upcoming and upcoming[0] else None,
    )
