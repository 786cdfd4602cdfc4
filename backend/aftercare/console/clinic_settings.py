"""A clinic's settings as its admins change them: checked as a whole, saved as a whole."""

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlmodel import Session

from aftercare.accounts.models import Clinic
from aftercare.i18n import _

ACK_TARGET = (1, 240)
SESSION_TIMEOUT = (5, 240)
# A week at least, so a slip of the keyboard cannot anonymise patients still in touch;
# ten years at most.
RETENTION_DAYS = (7, 3650)
APP_NAME_MAX = 40
PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{2,39}")
EMERGENCY = re.compile(r"\+?[0-9][0-9 ]{0,19}")
CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")

FIELDS = (
    "name", "phone", "emergency_number", "work_start", "work_end",
    "ack_target_minutes", "session_timeout_minutes", "app_name", "retention_days",
)  # fmt: skip


@dataclass(frozen=True)
class ClinicSettings:
    name: str
    phone: str | None
    emergency_number: str
    work_start: time
    work_end: time
    ack_target_minutes: int
    session_timeout_minutes: int
    app_name: str
    retention_days: int


def current_form(clinic: Clinic) -> dict[str, str]:
    """The form's values for the clinic as it is now."""
    return {
        "name": clinic.name,
        "phone": clinic.phone or "",
        "emergency_number": clinic.emergency_number,
        "work_start": clinic.work_start.strftime("%H:%M"),
        "work_end": clinic.work_end.strftime("%H:%M"),
        "ack_target_minutes": str(clinic.ack_target_minutes),
        "session_timeout_minutes": str(clinic.session_timeout_minutes),
        "app_name": clinic.app_name,
        "retention_days": str(clinic.retention_days),
    }


def complete_form(clinic: Clinic, posted: dict[str, str | None]) -> dict[str, str]:
    """The posted form; a field that may be left out keeps the clinic's value when it is.

    The retention came later than the other settings: a page loaded before it (or
    a script written then) does not send it, and must not fail for that. (A form
    field sent empty arrives as None too, so an emptied field also keeps its value.)
    """
    current = current_form(clinic)
    return {name: current[name] if value is None else value for name, value in posted.items()}


def _whole_number(raw: str, bounds: tuple[int, int]) -> int | None:
    value = raw.strip()
    if not value.isdigit() or not bounds[0] <= int(value) <= bounds[1]:
        return None
    return int(value)


def _clock(raw: str) -> time | None:
    value = raw.strip()[:5]
    return time.fromisoformat(value) if CLOCK.fullmatch(value) else None


def parse_settings(form: dict[str, str]) -> tuple[ClinicSettings | None, dict[str, str]]:
    """The settings, or None and a message (to be translated) for each field that is wrong."""
    errors: dict[str, str] = {}
    name = form["name"].strip()
    if not 1 <= len(name) <= 200:
        errors["name"] = _("Give the clinic's name (at most 200 characters).")
    phone = form["phone"].strip() or None
    if phone is not None and not PHONE.fullmatch(phone):
        errors["phone"] = _("Give a phone number with digits, spaces and an optional +.")
    emergency = form["emergency_number"].strip()
    if not EMERGENCY.fullmatch(emergency):
        errors["emergency_number"] = _("Give the local emergency number, like 112.")
    start, end = _clock(form["work_start"]), _clock(form["work_end"])
    if start is None:
        errors["work_start"] = _("Give a time like 08:00.")
    if end is None:
        errors["work_end"] = _("Give a time like 18:00.")
    elif start is not None and end <= start:
        errors["work_end"] = _("The working day must end after it starts.")
    ack = _whole_number(form["ack_target_minutes"], ACK_TARGET)
    if ack is None:
        errors["ack_target_minutes"] = _("Give a number of minutes from 1 to 240.")
    timeout = _whole_number(form["session_timeout_minutes"], SESSION_TIMEOUT)
    if timeout is None:
        errors["session_timeout_minutes"] = _("Give a number of minutes from 5 to 240.")
    app_name = form["app_name"].strip()
    if not 1 <= len(app_name) <= APP_NAME_MAX:
        errors["app_name"] = _("Give a name of 1 to 40 characters.")
    retention = _whole_number(form["retention_days"], RETENTION_DAYS)
    if retention is None:
        errors["retention_days"] = _("Give a number of days from 7 to 3650.")
    if errors:
        return None, errors
    assert start is not None and end is not None and ack is not None and timeout is not None
    assert retention is not None
    return (
        ClinicSettings(name, phone, emergency, start, end, ack, timeout, app_name, retention),
        {},
    )


def apply_settings(session: Session, clinic: Clinic, wanted: ClinicSettings) -> dict[str, Any]:
    """Change the clinic (the caller commits); returns the fields that changed, with new values."""
    changed: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(wanted, name)
        if getattr(clinic, name) != value:
            setattr(clinic, name, value)
            changed[name] = value.strftime("%H:%M") if isinstance(value, time) else value
    if changed:
        session.add(clinic)
    return changed
