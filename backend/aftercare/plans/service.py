"""Freezing a patient's plan into rows, and reading it back."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, delete, select

from aftercare.db import Prepared, Reads
from aftercare.patients.models import Patient
from aftercare.patients.schemas import PrescribedCreate
from aftercare.patients.service import Phone
from aftercare.plans.engine import (
    PrescribedItem,
    WakeWindow,
    build_plan,
    daily_checkins_end,
    in_language,
    local_date_of,
    recovery_day_of,
)
from aftercare.plans.models import PlanItem
from aftercare.plans.schemas import PlanDayPublic, PlanItemPublic, PlanPublic
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import parse_times


def prescribed_items(patient: Patient) -> list[PrescribedItem]:
    items = []
    for raw in patient.prescribed:
        spec = PrescribedCreate.model_validate(raw)
        items.append(
            PrescribedItem(
                title=spec.title,
                detail=spec.detail,
                language=raw.get("language", patient.language),
                days=spec.days,
                time=parse_times(spec.time),
                reminder=spec.reminder,
            )
        )
    return items


def freeze_plan(session: Session, patient: Patient, protocol: Protocol, now: datetime) -> None:
    """(Re)build the patient's plan rows from the procedure as it is now; the caller asks
    the reminders to follow (`reminders.outbox.rebuild`).

    A tick on an item survives a rebuild when the item keeps its key and date.
    """
    kept_done = {
        (row.key, row.date): row.done_at
        for row in session.exec(
            select(PlanItem).where(
                PlanItem.patient_id == patient.id, col(PlanItem.done_at).is_not(None)
            )
        )
    }
    session.exec(delete(PlanItem).where(col(PlanItem.patient_id) == patient.id))
    days = build_plan(
        protocol,
        patient.surgery_at,
        ZoneInfo(patient.timezone),
        WakeWindow(patient.wake_time, patient.sleep_time),
        prescribed_items(patient),
    )
    for plan_day in days:
        for position, item in enumerate(plan_day.items):
            session.add(
                PlanItem(
                    patient_id=patient.id,
                    key=item.key,
                    day=item.day,
                    date=item.date,
                    position=position,
                    kind=item.kind,
                    timing=item.timing,
                    local_time=item.local_time.strftime("%H:%M") if item.local_time else None,
                    due_at=item.due_at,
                    reminder=item.reminder,
                    source=item.source,
                    title=dict(item.title),
                    detail=dict(item.detail) if item.detail else None,
                    done_at=kept_done.get((item.key, item.date)),
                    tickable=item.tickable,
                )
            )
    patient.plan_days = protocol.days
    patient.checkin_daily_until = daily_checkins_end(days, ZoneInfo(patient.timezone))
    patient.protocol_version = protocol.version
    patient.protocol_digest = protocol.digest
    patient.plan_built_at = now
    session.add(patient)
    session.flush()


def plan_of(
    session: Session, patient: Patient, checked_in: set[int], only_day: int | None = None
) -> PlanPublic:
    """The patient's frozen plan in their language; `only_day` keeps one day of it.

    `checked_in`: the days the patient checked in on (`checkins.service.checkin_days`),
    which tick the check-in items."""
    query = select(PlanItem).where(PlanItem.patient_id == patient.id)
    if only_day is not None:
        query = query.where(PlanItem.day == only_day)
    rows = session.exec(query.order_by(col(PlanItem.day), col(PlanItem.position))).all()
    zone = ZoneInfo(patient.timezone)
    # The check-in item is ticked by checking in, never by hand.
    wanted = [only_day] if only_day is not None else range(1, patient.plan_days + 1)
    by_day: dict[int, list[PlanItemPublic]] = {day: [] for day in wanted}
    appointment = (
        {
            "appointment_at": patient.followup_at.astimezone(zone),
            "appointment_place": patient.followup_place,
        }
        if patient.followup_at
        else {}
    )
    for row in rows:
        by_day.setdefault(row.day, []).append(
            PlanItemPublic(
                id=row.key,
                kind=row.kind,
                title=in_language(row.title, patient.language) or "",
                detail=in_language(row.detail, patient.language),
                time=row.local_time,
                timing=row.timing,
                due_at=row.due_at.astimezone(zone) if row.due_at else None,
                done=row.day in checked_in if row.kind == "check-in" else row.done_at is not None,
                tickable=row.tickable,
                **(appointment if row.kind == "follow-up" else {}),
            )
        )
    first_day = local_date_of(patient.surgery_at, zone)
    days = [
        PlanDayPublic(day=day, date=first_day + timedelta(days=day - 1), items=items)
        for day, items in by_day.items()
    ]
    return PlanPublic(
        protocol=patient.protocol_id,
        protocol_version=patient.protocol_version,
        timezone=patient.timezone,
        language=patient.language,
        days=days,
    )


@dataclass(frozen=True, slots=True)
class ShownItem:
    """A plan item as Today shows it: the values of `PlanItemPublic`, without the JSON
    schema's validation, which a page made from our own rows does not need."""

    id: str
    kind: str
    title: str
    detail: str | None
    time: str | None
    timing: str
    done: bool
    tickable: bool
    appointment_at: datetime | None = None
    appointment_place: str | None = None


@dataclass(frozen=True, slots=True)
class ShownDay:
    day: int
    items: list[ShownItem]

    @property
    def tasks(self) -> tuple[ShownItem, ...]:
        """Today's list: the day's items but its milestones (its news), as a key the page
        can keep its rendering by (`fragment`)."""
        return tuple(item for item in self.items if item.kind != "milestone")

    @property
    def news(self) -> tuple[ShownItem, ...]:
        """The day's milestones, shown apart as what is new from today."""
        return tuple(item for item in self.items if item.kind == "milestone")

    @property
    def has_visit(self) -> bool:
        """Whether the list holds the follow-up visit, whose time and place are the
        patient's own: such a list is never kept."""
        return any(item.appointment_at for item in self.items)


# Today runs it on every visit: on the driver's cursor (aftercare.db.Prepared).
_DAY_ITEMS = Prepared(
    lambda _dialect: (
        select_columns(
            col(PlanItem.key),
            col(PlanItem.kind),
            col(PlanItem.title),
            col(PlanItem.detail),
            col(PlanItem.local_time),
            col(PlanItem.timing),
            col(PlanItem.done_at),
            col(PlanItem.tickable),
        )
        .where(
            col(PlanItem.patient_id) == bindparam("patient_id"),
            col(PlanItem.day) == bindparam("day"),
        )
        .order_by(col(PlanItem.position))
    )
)


@lru_cache(maxsize=4096)
def _texts(stored: str) -> Mapping[str, str]:
    """A plan item's title or detail as SQLite stores it (PostgreSQL's driver decodes
    it): the same few texts on every page, decoded once. Only ever read."""
    texts: Mapping[str, str] = json.loads(stored)
    return texts


def _in_language(stored: Any, language: str) -> str | None:
    if stored is None:
        return None
    return in_language(_texts(stored) if isinstance(stored, str) else stored, language)


def plan_day(session: Reads, patient: Patient | Phone, day: int, checked_in: bool) -> ShownDay:
    """One day of the patient's frozen plan in their language, as `plan_of` has it;
    `checked_in`: whether the patient checked in that day, which ticks the check-in item."""
    rows = _DAY_ITEMS.run(session, patient_id=patient.id, day=day).fetchall()
    language = patient.language
    visit_at = visit_place = None
    if patient.followup_at:
        visit_at = patient.followup_at.astimezone(ZoneInfo(patient.timezone))
        visit_place = patient.followup_place
    items = []
    for key, kind, title, detail, local_time, timing, done_at, tickable in rows:
        follow_up = kind == "follow-up"
        items.append(
            ShownItem(
                id=key,
                kind=kind,
                title=_in_language(title, language) or "",
                detail=_in_language(detail, language),
                time=local_time,
                timing=timing,
                # The check-in item is ticked by checking in, never by hand.
                done=checked_in if kind == "check-in" else done_at is not None,
                tickable=bool(tickable),
                appointment_at=visit_at if follow_up else None,
                appointment_place=visit_place if follow_up else None,
            )
        )
    return ShownDay(day=day, items=items)


def set_done(
    session: Session, patient: Patient, item_key: str, done: bool, now: datetime
) -> bool | None:
    """Tick an item off (or undo it). Idempotent.

    False when the plan has no such item; None when the item is not ticked by
    hand (reading matter, a milestone, the check-in).
    """
    item = session.exec(
        select(PlanItem).where(PlanItem.patient_id == patient.id, PlanItem.key == item_key)
    ).first()
    if item is None:
        return False
    if not item.tickable:
        return None
    if done and item.done_at is None:
        item.done_at = now
    elif not done:
        item.done_at = None
    session.add(item)
    session.flush()
    return True


def recovery_day(patient: Patient | Phone, now: datetime) -> int | None:
    return recovery_day_of(patient.surgery_at, patient.timezone, now)
