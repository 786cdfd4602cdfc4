"""Receiving check-ins: judge them at once, store them once, flag what needs a nurse."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, exists, tuple_
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select, update

from aftercare.accounts.security import token_digest
from aftercare.audit.service import record
from aftercare.checkins.models import CheckIn
from aftercare.checkins.schemas import CheckInAnswer, CheckInCreate, CheckInPublic
from aftercare.db import Prepared, Reads, as_json, as_uuid
from aftercare.flags.models import Flag
from aftercare.flags.rules import Answers, Verdict, advice_for, evaluate, reason_message
from aftercare.flags.schemas import Reason
from aftercare.flags.service import raise_for_checkin, when_first_seen
from aftercare.i18n import _, gettext_for
from aftercare.inbound import within_reason
from aftercare.patients.models import Patient
from aftercare.patients.service import PHONE_COLUMNS, Phone, phone_of, phone_query
from aftercare.plans.engine import local_date_of
from aftercare.protocols.loader import Protocol

# Phones' clocks drift: a check-in a few minutes "in the future" is still now.
CLOCK_SKEW = timedelta(minutes=5)
# Before this, a phone's clock is wrong whoever the patient is (a clock reset to year 1).
_SANE = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Received:
    created: bool
    answer: CheckInAnswer


@dataclass(frozen=True)
class Refused:
    """Why a check-in was not taken; the route turns it into an HTTP answer."""

    status: int
    detail: str
    field: str | None = None


def answers_of(row: Any) -> Answers:
    return Answers(
        pain=row.pain,
        temperature_c=row.temperature_c,
        bleeding=row.bleeding,
        discharge=row.discharge,
        urination=row.urination,
        allergy=row.allergy,
        nausea=row.nausea,
        wants_contact=row.wants_contact,
    )


def body_digest(body: CheckInCreate) -> str:
    """What a check-in said, as a digest: the same answers give the same, however the
    phone wrote them (the model's own JSON, its fields in their order, no spaces)."""
    return hashlib.sha256(_AS_JSON(body)).hexdigest()


_AS_JSON = CheckInCreate.__pydantic_serializer__.to_json
# The digest was once of json.dumps(..., sort_keys=True) of the model's JSON values, which
# took a check-in nearly four times as long: a check-in stored with such a digest and sent
# again since is still the same check-in (issue 14, CHANGELOG).
_EARLIER = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _earlier_digest(body: CheckInCreate) -> str:
    return hashlib.sha256(_EARLIER(body.model_dump(mode="json")).encode()).hexdigest()


def recovery_day_at(timezone: str, surgery_at: datetime, moment: datetime) -> int:
    zone = ZoneInfo(timezone)
    return (moment.astimezone(zone).date() - local_date_of(surgery_at, zone)).days + 1


def patient_advice(
    verdict: Verdict, protocol: Protocol, phone: str | None, emergency: str, language: str
) -> tuple[list[Reason], str]:
    rules = {rule.code: rule for rule in protocol.rules}
    reasons = [
        Reason(code=e.code, message=reason_message(rules.get(e.code), e, language))
        for e in verdict.reasons
    ]
    # Until the clinic sets its number, red advice still says whom to call.
    phone = phone or gettext_for(language).gettext(_("your clinic's usual number"))
    advice = advice_for(verdict, rules, protocol.reassurance, language, phone, emergency)
    return reasons, advice


# The hot path runs on the driver's cursor (aftercare.db.Prepared): SQLAlchemy's
# per-statement work cost more than the rest of a check-in together (bench/checkins.py).
_CHECKINS = CheckIn.__table__  # type: ignore[attr-defined]
_PATIENTS = Patient.__table__.c  # type: ignore[attr-defined]
_ANSWER_NAMES = ("pain", "temperature_c", "bleeding", "discharge", "urination", "allergy",
                 "nausea", "wants_contact")  # fmt: skip
_EXISTING = Prepared(
    lambda _dialect: select_columns(
        _CHECKINS.c.patient_id, _CHECKINS.c.body_digest, _CHECKINS.c.severity,
        _CHECKINS.c.reasons, _CHECKINS.c.advice,
    ).where(_CHECKINS.c.id == bindparam("checkin_id"))
)  # fmt: skip
_PREVIOUS = Prepared(
    lambda _dialect: (
        select_columns(*(_CHECKINS.c[name] for name in _ANSWER_NAMES))
        .where(
            _CHECKINS.c.patient_id == bindparam("patient_id"),
            _CHECKINS.c.recorded_at < bindparam("before"),
        )
        .order_by(_CHECKINS.c.recorded_at.desc())
        .limit(1)
    )
)
# The sender and, in the same statement, their latest check-in before this one's phone
# time (`before`): one statement fewer for nearly every check-in, whose time the server
# believes (`placed_at`); for the others `_PREVIOUS` asks again with the server's time.
_PREVIOUS_ONE = _CHECKINS.alias("previous")
_SENDER = Prepared(
    lambda _dialect: (
        phone_query()
        .add_columns(_PREVIOUS_ONE.c.id, *(_PREVIOUS_ONE.c[name] for name in _ANSWER_NAMES))
        .outerjoin(
            _PREVIOUS_ONE,
            _PREVIOUS_ONE.c.id
            == select_columns(_CHECKINS.c.id)
            .where(
                _CHECKINS.c.patient_id == _PATIENTS.id,
                _CHECKINS.c.recorded_at < bindparam("before"),
            )
            .order_by(_CHECKINS.c.recorded_at.desc())
            .limit(1)
            .scalar_subquery(),
        )
    )
)
# A resent check-in inserts nothing; it is then read back (`_EXISTING`).
_INSERT_CHECKIN = Prepared(
    lambda dialect: (postgresql.insert if dialect == "postgresql" else sqlite.insert)(
        _CHECKINS
    ).on_conflict_do_nothing(index_elements=["id"]),
    columns=["id", *_ANSWER_NAMES, "note", "recorded_at", "phone_recorded_at", "patient_id",
             "received_at", "day", "severity", "reasons", "advice", "body_digest"],
)  # fmt: skip


def _flag_of(value: Any) -> Any:
    return value if value is None else bool(value)


def _stored_answers(row: Any) -> Answers:
    """A stored check-in's answers (SQLite gives its booleans back as 0 and 1; an
    anonymised check-in's are None, and stay None)."""
    pain, temperature, bleeding, discharge, urination, allergy, nausea, contact = row
    return Answers(pain, temperature, bleeding, discharge, urination, allergy,
                   _flag_of(nausea), _flag_of(contact))  # fmt: skip


def placed_at(
    phone_time: datetime, enrolled_at: datetime, now: datetime
) -> tuple[datetime, datetime | None]:
    """When a check-in happened, and the phone's own time if it could not be believed.

    A phone whose clock is wrong must not lose a red answer: a time later than
    now, or before the patient was enrolled (both beyond the usual drift), is
    replaced by the moment the server received it, and the phone's is kept.
    """
    if phone_time > now + CLOCK_SKEW or phone_time < enrolled_at - CLOCK_SKEW:
        # A clock reset to 1970 or set to 9999 is kept only if a database can hold it.
        return now, phone_time if within_reason(phone_time) else None
    return phone_time, None


def _resent(db: Session, sender: Phone, body: CheckInCreate, digest: str) -> Received | Refused:
    """The answer to a check-in id already stored: the same answer if it is the same check-in."""
    existing = _EXISTING.run(db, checkin_id=body.id).fetchone()
    if existing is None:  # stored and erased between the two statements: a rare race
        return Refused(409, _("This id was already used for a different check-in"))
    patient_id, stored_digest, severity, reasons, advice = existing
    same = stored_digest == digest or stored_digest == _earlier_digest(body)
    if as_uuid(patient_id) != sender.id or not same:
        return Refused(409, _("This id was already used for a different check-in"))
    return Received(False, _answer(body.id, severity, as_json(reasons), advice))


def receive(
    db: Session,
    token: str | None,
    body: CheckInCreate,
    protocols: dict[str, Protocol],
    now: datetime,
) -> Received | Refused:
    """Judge a check-in and store it with its flag, exactly once per id.

    One write job from the token to the answer: on SQLite it runs on the event
    loop in its turn with the single writer, and check-ins arriving together are
    committed together (`aftercare.writer`).
    """
    found = None
    # The phone's time, if it can be right (`placed_at` says once the patient is known).
    guess = body.recorded_at if _SANE <= body.recorded_at <= now + CLOCK_SKEW else now
    if token:
        found = _SENDER.run(db, token_hash=token_digest(token), now=now,
                            before=guess).fetchone()  # fmt: skip
    if found is None:
        return Refused(401, _("Not authenticated"))
    sender = phone_of(found)
    protocol = protocols.get(sender.protocol_id)
    if protocol is None:
        return Refused(503, _("The clinic's procedure file is missing; please call the clinic."))
    digest = body_digest(body)
    recorded_at, phone_recorded_at = placed_at(body.recorded_at, sender.created_at, now)
    day = recovery_day_at(sender.timezone, sender.surgery_at, recorded_at)
    if recorded_at == guess:
        # After the phone's columns: the previous check-in's id (None if there is
        # none), then its answers.
        has_previous = found[PHONE_COLUMNS] is not None
        previous = found[PHONE_COLUMNS + 1 :] if has_previous else None
    else:
        previous = _PREVIOUS.run(db, patient_id=sender.id, before=recorded_at).fetchone()
    verdict = evaluate(
        protocol.rules, answers_of(body), day, _stored_answers(previous) if previous else None
    )
    reasons, advice = patient_advice(
        verdict, protocol, sender.clinic_phone, sender.emergency_number, sender.language
    )
    stored_reasons = [reason.model_dump() for reason in reasons]
    inserted = _INSERT_CHECKIN.run(
        db,
        **body.model_dump(exclude={"recorded_at"}),
        recorded_at=recorded_at,
        phone_recorded_at=phone_recorded_at,
        patient_id=sender.id,
        received_at=now,
        day=day,
        severity=verdict.severity,
        reasons=stored_reasons,
        advice=advice,
        body_digest=digest,
    )
    if inserted.rowcount == 0:
        return _resent(db, sender, body, digest)
    raise_for_checkin(db, sender.clinic_id, sender.id, body.id, verdict, now)
    record(db, now, sender.clinic_id, "patient", sender.id, "checkin.create", "checkin",
           body.id, severity=verdict.severity)  # fmt: skip
    return Received(True, _answer(body.id, verdict.severity, stored_reasons, advice))


def _answer(
    checkin_id: uuid.UUID, severity: str, reasons: list[dict[str, Any]], advice: str
) -> CheckInAnswer:
    return CheckInAnswer.model_validate(
        {"id": checkin_id, "severity": severity, "reasons": reasons, "advice": advice}
    )


@when_first_seen
def mark_seen_by_clinic(db: Session, checkin_ids: list[uuid.UUID], now: datetime) -> None:
    """Note that the clinic has seen these check-ins (the first time only); the caller commits.

    A check-in whose flag is still open is not seen until a nurse acknowledges it: until
    then the patient's phone keeps its instruction ("Please call now") and nothing else.
    """
    if checkin_ids:
        flag_open = (
            select(Flag.id)
            .where(col(Flag.checkin_id) == CheckIn.id, col(Flag.status) == "open")
            .exists()
        )
        db.exec(
            update(CheckIn)
            .where(
                col(CheckIn.id).in_(checkin_ids),
                col(CheckIn.clinic_seen_at).is_(None),
                ~flag_open,
            )
            .values(clinic_seen_at=now)
        )


def history(session: Session, patient: Patient, limit: int, offset: int) -> list[CheckInPublic]:
    zone = ZoneInfo(patient.timezone)
    rows = session.exec(
        select(CheckIn)
        .where(CheckIn.patient_id == patient.id)
        .order_by(col(CheckIn.recorded_at).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [
        CheckInPublic.model_validate(
            {
                **row.model_dump(exclude={"body_digest", "patient_id", "received_at"}),
                "recorded_at": row.recorded_at.astimezone(zone),
                "seen_by_clinic_at": (
                    row.clinic_seen_at.astimezone(zone) if row.clinic_seen_at else None
                ),
            }
        )
        for row in rows
    ]


def checkin_days(session: Session, patient_id: uuid.UUID) -> set[int]:
    """The recovery days on which the patient checked in."""
    rows = session.exec(select(CheckIn.day).where(CheckIn.patient_id == patient_id).distinct())
    return set(rows)


def checked_in_on(session: Session, days: set[tuple[uuid.UUID, int]]) -> set[tuple[uuid.UUID, int]]:
    """Which of these (patient, recovery day) pairs have a check-in; the reminders ask it
    before sending a check-in reminder. Asked 400 pairs at a time, a statement SQLite
    and PostgreSQL both take whole."""
    wanted = sorted(days, key=str)
    found: set[tuple[uuid.UUID, int]] = set()
    for start in range(0, len(wanted), 400):
        found.update(
            (patient_id, day)
            for patient_id, day in session.execute(
                select(col(CheckIn.patient_id), col(CheckIn.day)).where(
                    tuple_(col(CheckIn.patient_id), col(CheckIn.day)).in_(
                        wanted[start : start + 400]
                    )
                )
            ).all()
        )
    return found


# Today asks on every visit: on the driver's cursor (aftercare.db.Prepared).
_CHECKED_IN_THAT_DAY = Prepared(
    lambda _dialect: select_columns(
        exists().where(
            _CHECKINS.c.patient_id == bindparam("patient_id"),
            _CHECKINS.c.day == bindparam("day"),
        )
    )
)


def checked_in_that_day(session: Reads, patient_id: uuid.UUID, day: int) -> bool:
    """Whether the patient checked in on this recovery day (Today ticks its check-in)."""
    return bool(_CHECKED_IN_THAT_DAY.run(session, patient_id=patient_id, day=day).fetchone()[0])
