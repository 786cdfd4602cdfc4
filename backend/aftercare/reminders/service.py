"""The patient's reminder settings, subscriptions, test messages and in-app list."""

import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from aftercare.accounts.throttle import at_human_pace
from aftercare.audit.models import AuditEvent
from aftercare.audit.service import record
from aftercare.patients.models import Patient
from aftercare.patients.schemas import PatientUpdate
from aftercare.patients.service import apply_contact, contact_public, invalid_field, reschedule
from aftercare.plans.engine import in_language
from aftercare.plans.models import PlanItem
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import wake_window_problem
from aftercare.reminders.models import PushSubscription, Reminder
from aftercare.reminders.outbox import queue_now, rebuild, sending_channels
from aftercare.reminders.schemas import (
    InAppReminder,
    MePublic,
    MeUpdate,
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


HOURS = ("wake_time", "sleep_time")


def hours_problem(patient: Patient, changes: MeUpdate) -> tuple[str, str] | None:
    """The field to blame and why, when the asked waking hours cannot be used.

    The same rule as the nurse's PATCH: on one day, at least four hours long
    (the plan engine does not yet place reminders across midnight).
    """
    asked = [field for field in HOURS if field in changes.model_fields_set]
    for field in asked:
        if getattr(changes, field) is None:
            return field, "may be changed but not removed"
    if not asked:
        return None
    wake = changes.wake_time or patient.wake_time
    sleep = changes.sleep_time or patient.sleep_time
    problem = wake_window_problem(wake, sleep)
    if problem:
        return ("sleep_time" if "sleep_time" in asked else "wake_time"), problem
    return None


def _clock(value: time | None) -> str | None:
    return value.strftime("%H:%M") if value else None


def update_me(
    session: Session,
    patient: Patient,
    changes: MeUpdate,
    now: datetime,
    protocols: dict[str, Protocol] | None = None,
) -> MePublic:
    """Change e-mail, channels, language or waking hours; the waiting reminders follow at once.

    New waking hours rebuild the plan's times as the nurse's PATCH does
    (ticks are kept); `protocols` is needed only then. Raises FastAPI's 422
    (RequestValidationError) naming the field, before anything is changed.
    """
    problem = hours_problem(patient, changes)
    if problem:
        field, message = problem
        raise invalid_field(field, message, _clock(getattr(changes, field)))
    hours = {
        field: getattr(changes, field)
        for field in HOURS
        if field in changes.model_fields_set and getattr(changes, field) != getattr(patient, field)
    }
    if hours and protocols is None:
        raise ValueError("changing the waking hours needs the procedures to rebuild the plan")
    before = f"{_clock(patient.wake_time)}-{_clock(patient.sleep_time)}"
    if "email" in changes.model_fields_set:
        patient.email = str(changes.email) if changes.email else None
    if changes.channels is not None:
        # In-app stays: it is the app itself, and never leaves the phone.
        patient.channels = sorted({"in-app", *changes.channels})
    if changes.language is not None:
        patient.language = changes.language
    apply_contact(patient, changes)
    session.add(patient)
    session.flush()
    wake = hours.get("wake_time", patient.wake_time)
    sleep = hours.get("sleep_time", patient.sleep_time)
    moved = {"hours_before": before, "hours": f"{_clock(wake)}-{_clock(sleep)}"} if hours else {}
    # The audit row joins the transaction that the rebuild below commits.
    record(session, now, patient.clinic_id, "patient", patient.id, "patient.settings", "patient",
           patient.id, fields=sorted(changes.model_fields_set), **moved)  # fmt: skip
    if hours and protocols is not None:
        # The nurse's own path: new plan times from the procedure, then the outbox.
        reschedule(session, patient, PatientUpdate.model_validate(hours), protocols, now)
    else:
        rebuild(session, patient, now)
        session.commit()
    return me_public(patient)


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
    session.commit()


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
    session.commit()


def unsubscribe_nurse(session: Session, nurse_id: uuid.UUID, endpoint: str) -> None:
    for row in session.exec(
        select(PushSubscription).where(
            PushSubscription.nurse_id == nurse_id, PushSubscription.endpoint == endpoint
        )
    ):
        session.delete(row)
    session.commit()


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
    session.commit()


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
    session.commit()
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
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def timed_items(session: Session, patient: Patient) -> list[PlanItem]:
    return list(
        session.exec(
            select(PlanItem)
            .where(PlanItem.patient_id == patient.id, col(PlanItem.due_at).is_not(None))
            .order_by(col(PlanItem.due_at))
        )
    )
