"""The outbox's one door: rows from a patient's frozen plan (rebuilt when it changes),
rows due at once (a test, a message from the clinic) and the nurses' flag alerts."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select
from sqlalchemy import select as select_columns
from sqlmodel import Session, col

from aftercare.patients.models import Patient
from aftercare.plans.engine import WakeWindow, followup_reminder_at
from aftercare.plans.models import PlanItem
from aftercare.reminders import doorbell
from aftercare.reminders.models import PushSubscription, Reminder

# Channels that send (the calendar feed is fetched by the phone instead).
SENDING_CHANNELS = ("in-app", "push", "email")
# Rows made from the plan and the booked visit, remade whenever either changes.
REBUILT = ("plan-item", "follow-up")
# The follow-up reminder's key: no plan item's key ("d7-follow-up") looks like it.
APPOINTMENT_KEY = "appointment"


def sending_channels(patient: Patient) -> list[str]:
    chosen = [channel for channel in SENDING_CHANNELS if channel in patient.channels]
    return [channel for channel in chosen if channel != "email" or patient.email]


def rebuild(session: Session, patient: Patient, now: datetime) -> int:
    """Replace the patient's waiting plan reminders with rows from the plan as it is now,
    and the reminder of the follow-up visit the day before it.

    Called in the transaction that changed the plan, the visit, the channels or
    the e-mail address, so the outbox never disagrees with them.
    """
    session.execute(
        delete(Reminder).where(
            col(Reminder.patient_id) == patient.id,
            col(Reminder.purpose).in_(REBUILT),
            col(Reminder.status) == "pending",
        )
    )
    due: list[tuple[str, str, str | None, int | None, datetime]] = [
        ("plan-item", key, kind, day, due_at)
        for key, kind, day, due_at in session.execute(
            select(
                col(PlanItem.key), col(PlanItem.kind), col(PlanItem.day), col(PlanItem.due_at)
            ).where(
                col(PlanItem.patient_id) == patient.id,
                col(PlanItem.reminder).is_(True),
                col(PlanItem.due_at) > now,
            )
        ).all()
    ]
    visit = _followup_reminder(patient, now)
    if visit is not None:
        due.append(("follow-up", APPOINTMENT_KEY, None, None, visit))
    rows = [
        {
            "patient_id": patient.id,
            "purpose": purpose,
            "item_key": key,
            "item_kind": kind,
            "item_day": day,
            "channel": channel,
            "due_at": due_at,
            "plan_built_at": patient.plan_built_at,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for purpose, key, kind, day, due_at in due
        for channel in sending_channels(patient)
    ]
    if rows:
        session.execute(insert(Reminder), rows)
    return len(rows)


def _followup_reminder(patient: Patient, now: datetime) -> datetime | None:
    """When to remind of the booked visit, or None when there is none or it is too late
    (booked for tomorrow morning, say: the nurse has just told the patient)."""
    if patient.followup_at is None:
        return None
    window = WakeWindow(patient.wake_time, patient.sleep_time)
    due_at = followup_reminder_at(patient.followup_at, ZoneInfo(patient.timezone), window)
    return due_at if due_at > now else None


def queue_now(
    session: Session,
    patient: Patient,
    purpose: str,
    now: datetime,
    tag: str | None = None,
    due_at: datetime | None = None,
) -> int:
    """A row through each of the patient's channels, due at once (a test) or at `due_at`
    (a message from the clinic, held until the patient's waking hours)."""
    due_at = due_at or now
    rows = [
        {
            "patient_id": patient.id,
            "purpose": purpose,
            "item_key": tag,
            "channel": channel,
            "due_at": due_at,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for channel in sending_channels(patient)
    ]
    if rows:
        session.execute(insert(Reminder), rows)
        if due_at <= now:
            doorbell.ring_after_commit(session)
    return len(rows)


def queue_nurse_alerts(
    db: Session, alerted: dict[uuid.UUID, tuple[uuid.UUID, int]], now: datetime
) -> None:
    """A flag's alert to each nurse (`alerted`: nurse → flag, escalation level): one a
    channel (e-mail, and push where the nurse subscribed), unless one is still waiting."""
    if not alerted:
        return
    subscribed = set(
        db.execute(
            select_columns(col(PushSubscription.nurse_id)).where(
                col(PushSubscription.nurse_id).in_(alerted),
                col(PushSubscription.retired_at).is_(None),
            )
        ).scalars()
    )
    waiting = set(
        db.execute(
            select_columns(col(Reminder.nurse_id), col(Reminder.channel)).where(
                col(Reminder.nurse_id).in_(alerted),
                col(Reminder.purpose) == "escalation",
                col(Reminder.status) == "pending",
            )
        ).all()
    )
    for nurse_id, (flag_id, level) in alerted.items():
        for channel in ("email", "push") if nurse_id in subscribed else ("email",):
            if (nurse_id, channel) in waiting:
                continue
            db.add(
                Reminder(
                    nurse_id=nurse_id,
                    purpose="escalation",
                    flag_id=flag_id,
                    item_key=f"escalation-{level}",
                    channel=channel,
                    due_at=now,
                    created_at=now,
                )
            )
