"""The check-ins' background job: a patient silent too long during the daily check-in
days gets a flag (asked of `aftercare.flags`)."""

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from aftercare.checkins.models import CheckIn
from aftercare.db import Sessions
from aftercare.flags.service import raise_for_silence
from aftercare.patients.models import Patient
from aftercare.protocols.loader import Protocol
from aftercare.writer import Writer

log = logging.getLogger(__name__)


def raise_silence_flags(
    sessions: Sessions, writer: Writer, protocols: dict[str, Protocol], now: datetime
) -> int:
    """Flag each patient silent for the rule's hours while check-ins are daily; once per silence.

    A silence starts at the last check-in, or at the surgery (or the enrolment,
    if later) for a patient who has not checked in yet; it ends with the next
    check-in. Its start is part of the flag's unique key, so however many
    workers sweep at once, one silence gives one flag.
    """
    found: list[tuple[uuid.UUID, uuid.UUID, datetime, str, str, int]] = []
    with sessions() as session:
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
            rule = (code, severity, hours)
            raised += raise_for_silence(db, clinic_id, patient_id, since, rule, now)
        db.flush()
        return raised

    raised = writer.run(store)
    if raised:
        log.info("raised %d silence flag(s)", raised)
    return raised
