"""One patient's flag rules as data, so the phone can judge a check-in offline.

The phone (`frontend/static/js/triage.js`) answers a check-in from this
document exactly as the server would (`rules.evaluate`, `patient_advice`,
`calls_for`); the server still judges every check-in it receives. The document:

    {
      "version": "3f9c0a7be1d24c55",   # digest of all the rest: changed, fetch again
      "language": "fr",                # the language of every text below
      "timezone": "Europe/Paris",
      "first_day": "2027-03-26",       # local date of Day 1 (recoveryDay)
      "phones": {"clinic": "+33 1 23 45 67 89" | null, "emergency": "112"},
      "decimal_fields": ["temperature_c"],  # shown with one decimal, like `rules._shown`
      "rules": [                       # enabled rules, in the engine's order
        {
          "code": "fever",
          "severity": "red",           # "amber" or "red"
          "when": {"kind": "range",    # "range", "choice", "trend" or "silence"
                   "field": "temperature_c", "in": null, "at_least": 38.0,
                   "below": null, "from_day": null, "rise_of_at_least": null},
          "message": "Température {value} °C",     # {value} and {previous} to fill
          "advice": "... au 01 23 45 67 89 ...",   # the numbers already filled in
          "calls": ["clinic", "emergency"]         # numbers the advice names, in order
        }
      ],
      "reassurance": "...",            # the answer when nothing fires, filled in
      "previous": {"recorded_at": "2027-03-28T07:15:00+00:00", "pain": 3,
                   "temperature_c": 37.1, "bleeding": "light", "discharge": "none",
                   "urination": "normal", "allergy": "none", "nausea": false,
                   "wants_contact": false} | null
    }

`previous` is the latest stored check-in (for "trend" rules); a phone holding
newer check-ins of its own, still unsent, compares with its newest instead.
Texts come from the procedure's rules file only; without a clinic phone the
advice names "your clinic's usual number", as the server's answer does.
"""

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from types import UnionType
from typing import Any, get_args, get_type_hints
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from aftercare.accounts.models import Clinic
from aftercare.checkins.models import CheckIn
from aftercare.flags.rules import Answers, advice_calls, fill, in_language
from aftercare.i18n import _, gettext_for
from aftercare.patients.models import Patient
from aftercare.plans.engine import local_date_of
from aftercare.protocols.loader import Protocol
from aftercare.protocols.schema import CHOICE_FIELDS, RuleSpec


def _holds_float(hint: Any) -> bool:
    return hint is float or (isinstance(hint, UnionType) and float in get_args(hint))


# The answers held as floats: `rules._shown` writes them with one decimal.
DECIMAL_FIELDS: tuple[str, ...] = tuple(
    name for name, hint in get_type_hints(Answers).items() if _holds_float(hint)
)
ANSWER_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(Answers))


@dataclass(frozen=True)
class LatestCheckIn:
    answers: Answers
    recorded_at: datetime


def _choices(rule: RuleSpec) -> list[Any] | None:
    values = rule.when.in_
    if values is None:
        return None
    if CHOICE_FIELDS.get(rule.when.field or "") == (True, False):
        # YAML may say 1 for true; Python's `in` matches it, JavaScript's would not.
        return [bool(value) for value in values]
    return list(values)


def _rule(rule: RuleSpec, language: str, contact: dict[str, str]) -> dict[str, Any]:
    when = rule.when
    advice = in_language(rule.advice, language)
    return {
        "code": rule.code,
        "severity": rule.severity,
        "when": {
            "kind": when.kind,
            "field": when.field,
            "in": _choices(rule),
            "at_least": when.at_least,
            "below": when.below,
            "from_day": when.from_day,
            "rise_of_at_least": when.rise_of_at_least,
        },
        "message": in_language(rule.message, language),
        "advice": fill(advice, **contact),
        "calls": list(advice_calls(advice)),
    }


def _previous(latest: LatestCheckIn | None) -> dict[str, Any] | None:
    if latest is None:
        return None
    return {"recorded_at": latest.recorded_at.astimezone(UTC).isoformat(), **asdict(latest.answers)}


def triage_document(
    protocol: Protocol,
    language: str,
    clinic_phone: str | None,
    emergency_number: str,
    timezone: str,
    first_day: date,
    previous: LatestCheckIn | None,
) -> dict[str, Any]:
    """The document described above; pure, and JSON-able as it is."""
    # The same words the server's answer uses until the clinic sets its number.
    shown_phone = clinic_phone or gettext_for(language).gettext(_("your clinic's usual number"))
    contact = {"clinic_phone": shown_phone, "emergency_number": emergency_number}
    document: dict[str, Any] = {
        "language": language,
        "timezone": timezone,
        "first_day": first_day.isoformat(),
        "phones": {"clinic": clinic_phone, "emergency": emergency_number},
        "decimal_fields": list(DECIMAL_FIELDS),
        "rules": [_rule(rule, language, contact) for rule in protocol.rules if rule.enabled],
        "reassurance": fill(in_language(protocol.reassurance, language), **contact),
        "previous": _previous(previous),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {"version": hashlib.sha256(canonical.encode()).hexdigest()[:16], **document}


def latest_checkin(session: Session, patient_id: uuid.UUID) -> LatestCheckIn | None:
    """The patient's check-in with the latest recorded_at: the next one's "previous"."""
    columns = [getattr(CheckIn, name) for name in ANSWER_FIELDS]
    row = session.execute(
        select(*columns, col(CheckIn.recorded_at))
        .where(col(CheckIn.patient_id) == patient_id)
        .order_by(col(CheckIn.recorded_at).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LatestCheckIn(Answers(*row[: len(ANSWER_FIELDS)]), row.recorded_at)


def patient_triage(
    session: Session, patient: Patient, clinic: Clinic, protocol: Protocol
) -> dict[str, Any]:
    """The document for a patient, with their clinic's numbers and latest check-in."""
    zone = ZoneInfo(patient.timezone)
    return triage_document(
        protocol,
        patient.language,
        clinic.phone,
        clinic.emergency_number,
        patient.timezone,
        local_date_of(patient.surgery_at, zone),
        latest_checkin(session, patient.id),
    )
