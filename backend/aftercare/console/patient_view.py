"""What the console shows of patients: the clinic's list, and one patient at a glance.

Every read here is bounded (one page of patients, the latest check-ins, one
aggregate per figure), so the pages stay fast however much the clinic has
gathered over the years.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col

from aftercare.checkins.chart import PainPoint, pain_chart
from aftercare.checkins.models import CheckIn
from aftercare.checkins.schemas import CheckInPublic
from aftercare.checkins.service import history, recovery_day_at
from aftercare.flags.models import Flag
from aftercare.flags.schemas import FlagPublic
from aftercare.flags.service import queue, reasons_in
from aftercare.i18n import _, gettext_for
from aftercare.messages.models import Message
from aftercare.patients.models import Patient
from aftercare.plans.models import PlanItem
from aftercare.plans.service import recovery_day
from aftercare.protocols.loader import Protocol

PAGE_SIZE = 50
TIMELINE_SIZE = 50
# More flags than this on one patient would make a page nobody reads.
FLAGS_SHOWN = 200


@dataclass(frozen=True)
class PatientRow:
    """One line of the clinic's patient list."""

    id: uuid.UUID
    alias: str
    procedure: str
    surgery_at: datetime  # in the patient's zone
    day: int | None
    days: int
    enrolled: bool
    open_flags: int
    unread: int
    anonymised: bool


@dataclass(frozen=True)
class PatientPage:
    rows: list[PatientRow]
    page: int
    has_next: bool


@dataclass(frozen=True)
class Progress:
    """How much of what was due so far is done."""

    done: int
    due: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.done / self.due) if self.due else None


@dataclass(frozen=True)
class FlagView:
    flag: FlagPublic
    outcome: str | None


@dataclass(frozen=True)
class PatientFacts:
    """Everything the patient page shows, gathered once."""

    patient: Patient
    procedure: str
    surgery_at: datetime  # in the patient's zone
    day: int | None
    plan: Progress
    checkins_kept: Progress
    timeline: list[CheckInPublic]
    timeline_is_cut: bool
    chart: str
    chart_text: str
    flags: list[FlagView]
    unresolved: int
    unread: int


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def patient_list(
    session: Session,
    clinic_id: uuid.UUID,
    protocols: dict[str, Protocol],
    language: str,
    now: datetime,
    search: str = "",
    page: int = 1,
) -> PatientPage:
    """A page of the clinic's patients, newest surgery first, in three queries.

    One more row than a page is read to know whether there is a next page:
    counting 100,000 patients for a page number nobody needs would cost more.
    """
    query = select_columns(
        col(Patient.id), col(Patient.alias), col(Patient.protocol_id), col(Patient.surgery_at),
        col(Patient.timezone), col(Patient.plan_days), col(Patient.enrolled_at),
        col(Patient.anonymised_at),
    ).where(col(Patient.clinic_id) == clinic_id)  # fmt: skip
    search = search.strip()
    if search:
        pattern = f"%{_escape_like(search.lower())}%"
        query = query.where(func.lower(Patient.alias).like(pattern, escape="\\"))
    found = session.execute(
        query.order_by(col(Patient.surgery_at).desc(), col(Patient.id))
        .limit(PAGE_SIZE + 1)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    shown = found[:PAGE_SIZE]
    ids = [row.id for row in shown]
    open_flags = _counts(
        session,
        select_columns(col(Flag.patient_id), func.count())
        .where(col(Flag.patient_id).in_(ids), col(Flag.status) != "resolved")
        .group_by(col(Flag.patient_id)),
    )
    unread = _counts(
        session,
        select_columns(col(Message.patient_id), func.count())
        .where(
            col(Message.clinic_id) == clinic_id,
            col(Message.patient_id).in_(ids),
            col(Message.sender) == "patient",
            col(Message.read_at).is_(None),
        )
        .group_by(col(Message.patient_id)),
    )
    rows = []
    for row in shown:
        zone = ZoneInfo(row.timezone)
        protocol = protocols.get(row.protocol_id)
        rows.append(
            PatientRow(
                id=row.id,
                alias=row.alias,
                procedure=protocol.name(language) if protocol else row.protocol_id,
                surgery_at=row.surgery_at.astimezone(zone),
                day=_day(row.timezone, row.surgery_at, now),
                days=row.plan_days,
                enrolled=row.enrolled_at is not None,
                open_flags=open_flags.get(row.id, 0),
                unread=unread.get(row.id, 0),
                anonymised=row.anonymised_at is not None,
            )
        )
    return PatientPage(rows=rows, page=page, has_next=len(found) > PAGE_SIZE)


def _counts(session: Session, query: Select[uuid.UUID, int]) -> dict[uuid.UUID, int]:
    return {patient_id: count for patient_id, count in session.execute(query).all()}


def _day(timezone: str, surgery_at: datetime, now: datetime) -> int | None:
    day = recovery_day_at(timezone, surgery_at, now)
    return day if day >= 1 else None


def unread_count(session: Session, patient: Patient) -> int:
    """Messages from the patient no nurse has read yet."""
    count = session.execute(
        select_columns(func.count()).where(
            col(Message.patient_id) == patient.id,
            col(Message.sender) == "patient",
            col(Message.read_at).is_(None),
        )
    ).scalar_one()
    return int(count)


def patient_facts(
    session: Session,
    patient: Patient,
    protocols: dict[str, Protocol],
    language: str,
    now: datetime,
) -> PatientFacts:
    """The patient page's facts: plan progress, check-ins, pain chart, flags, unread messages."""
    zone = ZoneInfo(patient.timezone)
    protocol = protocols.get(patient.protocol_id)
    today = now.astimezone(zone).date()
    plan, kept_days = _plan_progress(session, patient, now, today)
    pain_by_day = dict(
        session.execute(
            select_columns(col(CheckIn.day), func.max(CheckIn.pain))
            .where(col(CheckIn.patient_id) == patient.id)
            .group_by(col(CheckIn.day))
        ).all()
    )
    checkins_kept = Progress(done=len(kept_days & set(pain_by_day)), due=len(kept_days))
    timeline = _in_language(
        session, history(session, patient, limit=TIMELINE_SIZE, offset=0), protocol, language
    )
    chart, chart_text = _chart(pain_by_day, patient.plan_days, language)
    flags = _flags(session, patient, protocols, language)
    return PatientFacts(
        patient=patient,
        procedure=protocol.name(language) if protocol else patient.protocol_id,
        surgery_at=patient.surgery_at.astimezone(zone),
        day=recovery_day(patient, now),
        plan=plan,
        checkins_kept=checkins_kept,
        timeline=timeline,
        timeline_is_cut=len(timeline) == TIMELINE_SIZE,
        chart=chart,
        chart_text=chart_text,
        flags=flags,
        unresolved=sum(1 for view in flags if view.flag.status != "resolved"),
        unread=unread_count(session, patient),
    )


def _plan_progress(
    session: Session, patient: Patient, now: datetime, today: date
) -> tuple[Progress, set[int]]:
    """Items ticked off among those due so far, and the days a check-in was due so far.

    A timed item is due once its time has passed; an all-day item on its day;
    an as-needed item never is, so it cannot count against the patient.
    Check-ins are not ticked off: they are kept by checking in that day.
    """
    due = or_(
        col(PlanItem.due_at) <= now,
        (col(PlanItem.due_at).is_(None))
        & (col(PlanItem.timing) != "as-needed")
        & (col(PlanItem.date) <= today),
    )
    rows = session.execute(
        select_columns(col(PlanItem.kind), col(PlanItem.day), col(PlanItem.done_at)).where(
            col(PlanItem.patient_id) == patient.id, due
        )
    ).all()
    done = sum(1 for row in rows if row.kind != "check-in" and row.done_at is not None)
    total = sum(1 for row in rows if row.kind != "check-in")
    checkin_days = {row.day for row in rows if row.kind == "check-in"}
    return Progress(done=done, due=total), checkin_days


def _chart(pain_by_day: dict[int, int | None], days: int, language: str) -> tuple[str, str]:
    # The highest pain of each day: a nurse looks for the worst moment, not the last one.
    translate = gettext_for(language).gettext
    # An anonymised patient's check-ins have no answers left to draw.
    points = [PainPoint(day, pain) for day, pain in sorted(pain_by_day.items()) if pain is not None]
    summary = ", ".join(
        translate(_("Day %(day)s: %(pain)s")) % {"day": p.day, "pain": p.pain} for p in points
    )
    text = translate(_("Highest pain of each day, 0 to 10")) + (
        ": " + summary if summary else ": " + translate(_("no check-in yet"))
    )
    return pain_chart(points, days, text, width=480), text


def _in_language(
    session: Session, timeline: list[CheckInPublic], protocol: Protocol | None, language: str
) -> list[CheckInPublic]:
    """The check-ins with their reasons in the nurse's language, not the patient's: worded
    again from their flags' evidence (a check-in with reasons always has a flag)."""
    flagged = [checkin.id for checkin in timeline if checkin.reasons]
    if not flagged:
        return timeline
    evidence = dict(
        session.execute(
            select_columns(col(Flag.checkin_id), col(Flag.reasons)).where(
                col(Flag.checkin_id).in_(flagged)
            )
        ).all()
    )
    return [
        checkin.model_copy(update={"reasons": reasons_in(evidence[checkin.id], protocol, language)})
        if checkin.id in evidence
        else checkin
        for checkin in timeline
    ]


def _flags(
    session: Session, patient: Patient, protocols: dict[str, Protocol], language: str
) -> list[FlagView]:
    """The patient's flags, unresolved first, then newest first, with how each one ended."""
    flags: Sequence[FlagPublic] = queue(
        session, patient.clinic_id, protocols, language, patient_id=patient.id, limit=FLAGS_SHOWN
    )
    outcomes: dict[uuid.UUID, str] = {
        flag_id: outcome
        for flag_id, outcome in session.execute(
            select_columns(col(Flag.id), col(Flag.resolution_outcome)).where(
                col(Flag.patient_id) == patient.id, col(Flag.resolution_outcome).is_not(None)
            )
        ).all()
    }
    ordered = sorted(
        flags, key=lambda flag: (flag.status == "resolved", -flag.created_at.timestamp())
    )
    return [FlagView(flag=flag, outcome=outcomes.get(flag.id)) for flag in ordered]
