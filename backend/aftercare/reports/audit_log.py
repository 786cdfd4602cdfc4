"""Reading the audit trail: filters, a page of rows, and every row for the CSV."""

import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, select
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic, Nurse
from aftercare.accounts.service import normalise_email
from aftercare.audit.models import AuditEvent
from aftercare.patients.models import Patient

PAGE_SIZE = 100
CSV_BATCH = 1000


@dataclass(frozen=True)
class AuditFilters:
    """What an admin asked for; empty strings mean "any"."""

    nurse: str = ""
    action: str = ""
    patient: str = ""
    since: date | None = None
    until: date | None = None

    def as_detail(self) -> dict[str, str]:
        """The filters for the audit row that records this listing, without the empty ones."""
        values = {
            "nurse": self.nurse,
            "action": self.action,
            "patient": self.patient,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


def parse_filters(
    nurse: str | None, action: str | None, patient: str | None, since: str | None, until: str | None
) -> tuple[AuditFilters, str | None]:
    """The filters, and the name of the first field that is not valid (None when all are)."""
    dates: dict[str, date | None] = {}
    for name, raw in (("from", since), ("to", until)):
        raw = (raw or "").strip()
        if not raw:
            dates[name] = None
            continue
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            return AuditFilters(), name
        try:
            dates[name] = date.fromisoformat(raw)
        except ValueError:
            return AuditFilters(), name
    filters = AuditFilters(
        nurse=(nurse or "").strip()[:254],
        action=(action or "").strip()[:40],
        patient=(patient or "").strip()[:64],
        since=dates["from"],
        until=dates["to"],
    )
    if filters.since and filters.until and filters.until < filters.since:
        return filters, "to"
    return filters, None


@dataclass(frozen=True)
class AuditRow:
    at: datetime  # in the clinic's time zone
    who: str
    action: str
    subject: str
    subject_id: str
    subject_label: str | None  # a patient's alias or a nurse's e-mail when known
    client: str
    detail: dict[str, Any]

    @property
    def detail_text(self) -> str:
        return "; ".join(f"{key}: {_plain(value)}" for key, value in sorted(self.detail.items()))


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _query(
    session: Session, clinic: Clinic, filters: AuditFilters
) -> Select[AuditEvent, str] | None:
    """The matching events, newest first; None when a filter can match nothing."""
    query = (
        select(AuditEvent, col(Nurse.email))
        .outerjoin(
            Nurse, and_(col(AuditEvent.actor) == "nurse", col(Nurse.id) == AuditEvent.actor_id)
        )
        .where(col(AuditEvent.clinic_id) == clinic.id)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    )
    if filters.nurse:
        query = query.where(col(Nurse.email) == normalise_email(filters.nurse))
    if filters.action:
        query = query.where(col(AuditEvent.action) == filters.action)
    if filters.patient:
        ids = _patient_ids(session, clinic, filters.patient)
        if not ids:
            return None
        query = query.where(col(AuditEvent.subject_id).in_(ids))
    zone = ZoneInfo(clinic.timezone)
    if filters.since:
        query = query.where(col(AuditEvent.at) >= datetime.combine(filters.since, time(0), zone))
    if filters.until:
        end = datetime.combine(filters.until + timedelta(days=1), time(0), zone)
        query = query.where(col(AuditEvent.at) < end)
    return query


def _patient_ids(session: Session, clinic: Clinic, wanted: str) -> list[str]:
    """The clinic's patients with this id or this alias, as the audit trail writes them."""
    try:
        by_id = col(Patient.id) == uuid.UUID(wanted)
    except ValueError:
        by_id = None
    matches = col(Patient.alias) == wanted if by_id is None else by_id
    found = session.execute(
        select(col(Patient.id)).where(col(Patient.clinic_id) == clinic.id, matches)
    ).scalars()
    return [str(patient_id) for patient_id in found]


def _labels(session: Session, clinic: Clinic, events: Sequence[AuditEvent]) -> dict[str, str]:
    """Aliases of the patients and e-mails of the nurses these events are about."""

    def ids(kind: str) -> set[uuid.UUID]:
        found = set()
        for event in events:
            if event.subject == kind:
                with suppress(ValueError):
                    found.add(uuid.UUID(event.subject_id))
        return found

    labels: dict[str, str] = {}
    if patients := ids("patient"):
        rows = session.execute(
            select(col(Patient.id), col(Patient.alias)).where(
                col(Patient.clinic_id) == clinic.id, col(Patient.id).in_(patients)
            )
        ).all()
        labels.update({str(patient_id): alias for patient_id, alias in rows})
    if nurses := ids("nurse"):
        rows = session.execute(
            select(col(Nurse.id), col(Nurse.email)).where(
                col(Nurse.clinic_id) == clinic.id, col(Nurse.id).in_(nurses)
            )
        ).all()
        labels.update({str(nurse_id): email for nurse_id, email in rows})
    return labels


def _rows(
    session: Session, clinic: Clinic, found: Sequence[tuple[AuditEvent, str | None]]
) -> list[AuditRow]:
    zone = ZoneInfo(clinic.timezone)
    labels = _labels(session, clinic, [event for event, _ in found])
    return [
        AuditRow(
            at=event.at.astimezone(zone),
            who=email if event.actor == "nurse" and email else event.actor,
            action=event.action,
            subject=event.subject,
            subject_id=event.subject_id,
            subject_label=labels.get(event.subject_id),
            client=event.client or "",
            detail=event.detail or {},
        )
        for event, email in found
    ]


def audit_page(
    session: Session, clinic: Clinic, filters: AuditFilters, page: int
) -> tuple[list[AuditRow], bool]:
    """One page of rows, newest first, and whether there is a next page."""
    query = _query(session, clinic, filters)
    if query is None:
        return [], False
    found = session.execute(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    pairs = [(event, email) for event, email in found]
    return _rows(session, clinic, pairs[:PAGE_SIZE]), len(pairs) > PAGE_SIZE


def audit_export(session: Session, clinic: Clinic, filters: AuditFilters) -> Iterator[AuditRow]:
    """Every matching row, newest first, read in batches so that memory stays flat."""
    query = _query(session, clinic, filters)
    if query is None:
        return
    result = session.execute(query.execution_options(yield_per=CSV_BATCH))
    for batch in result.partitions():
        yield from _rows(session, clinic, [(event, email) for event, email in batch])
