"""The flags' background job: a red flag nobody acknowledged in time is announced to the
nurses again (through the reminders' outbox)."""

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select as select_columns
from sqlalchemy import update
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic, Nurse
from aftercare.audit.service import record
from aftercare.db import Sessions
from aftercare.flags.models import Flag
from aftercare.reminders.outbox import queue_nurse_alerts
from aftercare.writer import Writer

log = logging.getLogger(__name__)
SWEEP_EVERY = timedelta(minutes=5)


def escalate_red_flags(sessions: Sessions, writer: Writer, now: datetime) -> int:
    """Alert the clinic's nurses about red flags nobody has acknowledged in time.

    One alert when a red flag has waited the clinic's target (15 minutes by
    default), a second at twice the target; never more. The alerts go through
    the outbox like any reminder, by e-mail and by push where a nurse subscribed.
    """
    with sessions() as session:
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
        queue_nurse_alerts(db, alerted, now)
        db.flush()
        return alerts

    return writer.run(store)
