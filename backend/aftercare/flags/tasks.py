"""The flags' background job: a patient silent too long during the daily check-in days."""

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, update
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from aftercare.accounts.models import Clinic, Nurse
from aftercare.audit.service import record
from aftercare.checkins.models import CheckIn
from aftercare.flags.cards import refresh_card
from aftercare.flags.models import SEVERITY_RANK, Flag
from aftercare.patients.models import Patient
from aftercare.protocols.loader import Protocol
from aftercare.reminders.models import PushSubscription, Reminder
from aftercare.writer import Writer

log = logging.getLogger(__name__)
SWEEP_EVERY = timedelta(minutes=5)


def raise_silence_flags(
    engine: Engine, writer: Writer, protocols: dict[str, Protocol], now: datetime
) -> int:
    """Flag each patient silent for the rule's hours while check-ins are daily; once per silence.

    A silence starts at the last check-in, or at the surgery (or the enrolment,
    if later) for a patient who has not checked in yet; it ends with the next
    check-in. Its start is part of the flag's unique key, so however many
    workers sweep at once, one silence gives one flag.
    """
    found: list[tuple[uuid.UUID, uuid.UUID, datetime, str, str, int]] = []
    with Session(engine) as session:
        for protocol in protocols.values():
            rule = next((r for r in protocol.rules if r.when.kind == "silence"), None)
            if rule is None or rule.when.silent_hours is None:
                continue
            hours = rule.when.silent_hours
            cutoff = now - timedelta(hours=hours)
            last_checkin = (
                select(CheckIn.patient_id, func.max(CheckIn.recorded_at).label("last"))
                .group_by(col(CheckIn.patient_id))
                .subquery()
            )
            rows = session.execute(
                select_columns(
                    col(Patient.id),
                    col(Patient.clinic_id),
                    col(Patient.surgery_at),
                    col(Patient.created_at),
                    last_checkin.c.last,
                )
                .outerjoin(last_checkin, last_checkin.c.patient_id == Patient.id)
                .where(
                    col(Patient.protocol_id) == protocol.id,
                    col(Patient.checkin_daily_until) > now,
                    col(Patient.surgery_at) <= cutoff,
                    col(Patient.created_at) <= cutoff,
                    (last_checkin.c.last.is_(None)) | (last_checkin.c.last <= cutoff),
                )
            ).all()
            for patient_id, clinic_id, surgery_at, created_at, last in rows:
                since = last or max(surgery_at, created_at)
                found.append((patient_id, clinic_id, since, rule.code, rule.severity, hours))
    if not found:
        return 0

    def store(db: Session) -> int:
        raised = 0
        for patient_id, clinic_id, since, code, severity, hours in found:
            exists = db.exec(
                select(Flag.id).where(Flag.patient_id == patient_id, Flag.silent_since == since)
            ).first()
            if exists is not None:
                continue
            db.add(
                Flag(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    silent_since=since,
                    severity=severity,
                    severity_rank=SEVERITY_RANK[severity],
                    reasons=[{"code": code, "severity": severity, "value": hours}],
                    created_at=now,
                )
            )
            db.flush()
            refresh_card(db, patient_id, clinic_id)
            record(db, now, clinic_id, "system", None, "flag.silence", "patient", patient_id)
            raised += 1
        db.flush()
        return raised

    raised = writer.run(store)
    if raised:
        log.info("raised %d silence flag(s)", raised)
    return raised


def escalate_red_flags(engine: Engine, writer: Writer, now: datetime) -> int:
    """Alert the clinic's nurses about red flags nobody has acknowledged in time.

    One alert when a red flag has waited the clinic's target (15 minutes by
    default), a second at twice the target; never more. The alerts go through
    the outbox like any reminder, by e-mail and by push where a nurse subscribed.
    """
    with Session(engine) as session:
        waiting = session.execute(
            select_columns(
                col(Flag.id),
                col(Flag.clinic_id),
                col(Flag.created_at),
                col(Flag.escalations),
                col(Clinic.ack_target_minutes),
            )
            .join(Clinic, col(Clinic.id) == Flag.clinic_id)
            .where(
                col(Flag.status) == "open", col(Flag.severity) == "red", col(Flag.escalations) < 2
            )
        ).all()
    due: list[tuple[uuid.UUID, uuid.UUID, int, int]] = []
    for flag_id, clinic_id, created_at, sent, target in waiting:
        waited = now - created_at
        level = (
            2
            if waited >= 2 * timedelta(minutes=target)
            else 1
            if waited >= timedelta(minutes=target)
            else 0
        )
        if level > sent:
            due.append((flag_id, clinic_id, sent, level))
    if not due:
        return 0

    def store(db: Session) -> int:
        alerts = 0
        # One alert a nurse however many flags are due now: the alert says only that
        # something waits (the console says what), so a second one the same moment
        # would be noise; nor is one added while an earlier one still waits to be sent.
        alerted: dict[uuid.UUID, tuple[uuid.UUID, int]] = {}
        for flag_id, clinic_id, sent, level in due:
            moved = db.execute(
                update(Flag)
                .where(
                    col(Flag.id) == flag_id,
                    col(Flag.escalations) == sent,
                    col(Flag.status) == "open",
                )
                .values(escalations=level)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                continue  # acknowledged meanwhile, or another worker was first
            nurses = (
                db.execute(
                    select_columns(col(Nurse.id)).where(
                        col(Nurse.clinic_id) == clinic_id, col(Nurse.is_active).is_(True)
                    )
                )
                .scalars()
                .all()
            )
            for nurse_id in nurses:
                alerted.setdefault(nurse_id, (flag_id, level))
            record(db, now, clinic_id, "system", None, f"flag.escalation-{level}", "flag", flag_id)
            alerts += 1
        _queue_alerts(db, alerted, now)
        db.flush()
        return alerts

    return writer.run(store)


def _queue_alerts(
    db: Session, alerted: dict[uuid.UUID, tuple[uuid.UUID, int]], now: datetime
) -> None:
    """One escalation alert a nurse and channel, unless one is still waiting to go."""
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
