"""The patient's reminder settings, subscriptions, test messages and in-app list."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from aftercare.accounts.throttle import at_human_pace
from aftercare.audit.models import AuditEvent
from aftercare.audit.service import record
from aftercare.patients.models import Patient
from aftercare.patients.service import contact_public
from aftercare.plans.engine import in_language
from aftercare.plans.models import PlanItem
from aftercare.reminders.models import PushSubscription, Reminder
from aftercare.reminders.outbox import queue_now, rebuild, sending_channels
from aftercare.reminders.schemas import (
    InAppReminder,
    MePublic,
    PushSubscriptionCreate,
)
from aftercare.reminders.texts import patient_message


def me_public(patient: Patient) -> MePublic:
    return MePublic(
        email=patient.email,
        channels=patient.channels,
        language=patient.language,
        **contact_public(patient).model_dump(),
    )


def subscribe(
    session: Session, patient: Patient, subscription: PushSubscriptionCreate, now: datetime
) -> None:
    """Keep a phone's push subscription; the same endpoint again replaces the old keys."""
    endpoint = str(subscription.endpoint)
    existing = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    ).first()
    row = existing or PushSubscription(
        endpoint=endpoint, p256dh=subscription.keys.p256dh, auth=subscription.keys.auth
    )
    row.patient_id, row.nurse_id = patient.id, None
    row.p256dh, row.auth, row.retired_at, row.created_at = (
        subscription.keys.p256dh,
        subscription.keys.auth,
        None,
        now,
    )
    session.add(row)
    if "push" not in patient.channels:
        patient.channels = sorted({*patient.channels, "push"})
        session.add(patient)
        session.flush()
        rebuild(session, patient, now)
    session.flush()


def subscribe_nurse(
    session: Session, nurse_id: uuid.UUID, subscription: PushSubscriptionCreate, now: datetime
) -> None:
    """Keep a nurse's browser subscription: red-flag alerts then also arrive by push."""
    endpoint = str(subscription.endpoint)
    row = session.exec(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    ).first() or PushSubscription(endpoint=endpoint, p256dh="", auth="")
    row.patient_id, row.nurse_id = None, nurse_id
    row.p256dh, row.auth = subscription.keys.p256dh, subscription.keys.auth
    row.retired_at, row.created_at = None, now
    session.add(row)
    session.flush()


def unsubscribe_nurse(session: Session, nurse_id: uuid.UUID, endpoint: str) -> None:
    for row in session.exec(
        select(PushSubscription).where(
            PushSubscription.nurse_id == nurse_id, PushSubscription.endpoint == endpoint
        )
    ):
        session.delete(row)
    session.flush()


def unsubscribe(session: Session, patient: Patient, endpoint: str, now: datetime) -> None:
    """Forget this phone's push subscription; with none left, push is no longer a channel."""
    for row in session.exec(
        select(PushSubscription).where(
            PushSubscription.patient_id == patient.id, PushSubscription.endpoint == endpoint
        )
    ):
        session.delete(row)
    session.flush()
    remaining = session.exec(
        select(PushSubscription.id).where(
            PushSubscription.patient_id == patient.id,
            PushSubscription.retired_at.is_(None),  # type: ignore[union-attr]
        )
    ).first()
    if remaining is None and "push" in patient.channels:
        patient.channels = [c for c in patient.channels if c != "push"]
        session.add(patient)
        session.flush()
        rebuild(session, patient, now)
    session.flush()


TESTS_PER_WINDOW = 5
TEST_WINDOW = timedelta(hours=1)


def queue_test(
    session: Session, patient: Patient, now: datetime, actor: str, actor_id: uuid.UUID
) -> list[str]:
    """A neutral test message through every channel the patient chose, due at once.

    Returns the channels it can reach: push only while a phone's subscription
    is alive, e-mail only with an address (the calendar feed is never sent to).
    """
    # A test is for seeing that reminders arrive, not for sending many: a few an hour.
    tests = session.exec(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.clinic_id == patient.clinic_id,
            col(AuditEvent.at) > now - TEST_WINDOW,
            AuditEvent.action == "reminder.test",
            AuditEvent.subject_id == str(patient.id),
        )
    ).one()
    at_human_pace(tests, TESTS_PER_WINDOW, TEST_WINDOW)
    queue_now(session, patient, "test", now, tag=f"test-{now.timestamp():.0f}")
    record(session, now, patient.clinic_id, actor, actor_id, "reminder.test", "patient", patient.id)
    session.flush()
    channels = sending_channels(patient)
    if "push" in channels and not _has_live_subscription(session, patient):
        channels.remove("push")
    return channels


def _has_live_subscription(session: Session, patient: Patient) -> bool:
    return (
        session.exec(
            select(PushSubscription.id).where(
                PushSubscription.patient_id == patient.id,
                col(PushSubscription.retired_at).is_(None),
            )
        ).first()
        is not None
    )


def in_app(session: Session, patient: Patient, app_name: str, base_url: str) -> list[InAppReminder]:
    """Reminders delivered in the app and not yet seen; inside the app the detail may show."""
    rows = session.exec(
        select(Reminder)
        .where(
            Reminder.patient_id == patient.id,
            Reminder.channel == "in-app",
            Reminder.status == "sent",
            col(Reminder.seen_at).is_(None),
        )
        .order_by(col(Reminder.due_at).desc())
        .limit(50)
    ).all()
    keys = [row.item_key for row in rows if row.item_key]
    titles = dict(
        session.exec(
            select(PlanItem.key, PlanItem.title).where(
                PlanItem.patient_id == patient.id, col(PlanItem.key).in_(keys)
            )
        ).all()
    )
    return [
        InAppReminder(
            id=row.id or 0,
            title=in_language(titles.get(row.item_key or ""), patient.language)
            or patient_message(
                row.purpose, row.item_kind, patient.language, app_name, base_url, ""
            ).body,
            item_id=row.item_key if row.purpose == "plan-item" else None,
            due_at=row.due_at,
        )
        for row in rows
    ]


def mark_seen(session: Session, patient: Patient, reminder_id: int, now: datetime) -> bool:
    result = session.execute(
        update(Reminder)
        .where(col(Reminder.id) == reminder_id, col(Reminder.patient_id) == patient.id)
        .values(seen_at=now)
    )
    session.flush()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def timed_items(session: Session, patient: Patient) -> list[PlanItem]:
    return list(
        session.exec(
            select(PlanItem)
            .where(PlanItem.patient_id == patient.id, col(PlanItem.due_at).is_not(None))
            .order_by(col(PlanItem.due_at))
        )
    )
