"""The console's patient forms (enrol, move the surgery) read into the API's own schemas.

The console and `POST /api/v1/patients` must agree on what a valid patient
is, so a form is turned into a `PatientCreate` (or `PatientUpdate`) and
checked by it; this module only adds what a form needs on top: a date, a
time and a zone typed separately, and a message next to each wrong field in
the nurse's language.
"""

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.exceptions import RequestValidationError
from pydantic import Field, ValidationError

from aftercare.i18n import _
from aftercare.inbound import Inbound
from aftercare.patients.schemas import PatientCreate, PatientUpdate, known_time_zones
from aftercare.protocols.schema import parse_clock

PRESCRIBED_ROWS = 3
Translate = Callable[[str], str]
FieldErrors = dict[str, str]

# What to do about each wrong field, in words for people (msgids; translated when shown).
MESSAGES = {
    "alias": _("Enter an alias, such as the patient's initials (at most 40 characters)."),
    "protocol": _("Choose a procedure from the list."),
    "surgery_date": _("Enter the date of surgery, like 2027-03-26."),
    "surgery_time": _("Enter the time of surgery as HH:MM, like 09:30."),
    "timezone": _("Choose a time zone from the list, like Europe/Paris."),
    "language": _("Choose a language the procedure's texts are written in."),
    "wake_time": _("Enter a time as HH:MM, like 08:00."),
    "sleep_time": _("Enter a time as HH:MM, at least 4 hours after the waking time."),
    "email": _("Enter a valid e-mail address, or leave it empty."),
    "phone": _(
        "Enter a phone number of 6 to 15 digits, like +33 6 12 34 56 78, or leave it empty."
    ),
    "phone_best_time": _("Say the best time to call in at most 80 characters."),
    "followup_date": _(
        "Enter the date of the visit, like 2027-04-02: after the surgery and within a year of it."
    ),
    "followup_time": _("Enter the time of the visit as HH:MM, like 14:30."),
    "followup_place": _("Say where in at most 120 characters, or leave it empty."),
    "title": _("Give the item a title (at most 200 characters)."),
    "days": _("Write the days like 1-5 or 1, 3, 5, within the plan's days."),
    "times": _('Write the times like 08:00, 20:00, or "as needed".'),
    "form": _("This could not be saved; please check the form, or ask an administrator."),
}


class EnrolForm(Inbound):
    """The enrolment form as typed; every field is text so nothing is refused before reading."""

    csrf_token: str | None = None
    alias: str = ""
    protocol: str = ""
    surgery_date: str = ""
    surgery_time: str = ""
    timezone: str = ""
    language: str = ""
    wake_time: str = ""
    sleep_time: str = ""
    email: str = ""
    phone: str = ""
    # Boxes: sent ("on") when ticked, absent otherwise.
    phone_safe_to_call: str | None = None
    phone_leave_message: str | None = None
    phone_best_time: str = ""
    # One entry per prescribed row; the reminder boxes carry their row's number.
    item_title: list[str] = Field(default_factory=list)
    item_days: list[str] = Field(default_factory=list)
    item_times: list[str] = Field(default_factory=list)
    item_reminder: list[str] = Field(default_factory=list)

    def rows(self) -> list[tuple[str, str, str, bool]]:
        """The prescribed rows as typed (title, days, times, reminder), always PRESCRIBED_ROWS."""

        def at(values: list[str], index: int) -> str:
            return values[index].strip() if index < len(values) else ""

        return [
            (
                at(self.item_title, i),
                at(self.item_days, i),
                at(self.item_times, i),
                str(i) in self.item_reminder,
            )
            for i in range(PRESCRIBED_ROWS)
        ]


class ContactForm(Inbound):
    """How the clinic may reach the patient, as typed on the patient page."""

    csrf_token: str | None = None
    phone: str = ""
    phone_safe_to_call: str | None = None
    phone_leave_message: str | None = None
    phone_best_time: str = ""


def contact_fields(form: "ContactForm | EnrolForm") -> dict[str, Any]:
    return {
        "phone": form.phone.strip() or None,
        "phone_safe_to_call": form.phone_safe_to_call is not None,
        "phone_leave_message": form.phone_leave_message is not None,
        "phone_best_time": form.phone_best_time.strip() or None,
    }


def contact_change(
    form: ContactForm, translate: Translate
) -> tuple[PatientUpdate | None, FieldErrors]:
    """The contact form as the API's `PatientUpdate` (its contact fields alone)."""
    try:
        return PatientUpdate.model_validate(contact_fields(form)), {}
    except ValidationError as error:
        return None, errors_of(error, translate)


class SurgeryForm(Inbound):
    csrf_token: str | None = None
    surgery_date: str = ""
    surgery_time: str = ""
    timezone: str = ""


def surgery_moment(
    typed_date: str, typed_time: str, zone: str, translate: Translate
) -> tuple[datetime | None, FieldErrors]:
    """A local date, time and IANA zone as one aware moment, or what is wrong with each."""
    errors: FieldErrors = {}
    day: date | None = None
    try:
        day = date.fromisoformat(typed_date.strip())
    except ValueError:
        errors["surgery_date"] = translate(MESSAGES["surgery_date"])
    try:
        clock = parse_clock(typed_time.strip())
    except ValueError:
        errors["surgery_time"] = translate(MESSAGES["surgery_time"])
    if zone.strip() not in known_time_zones():
        errors["timezone"] = translate(MESSAGES["timezone"])
    if errors or day is None:
        return None, errors
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone.strip())), errors


def _field_of(loc: Sequence[Any]) -> str:
    """The form field behind a schema error's location."""
    # A service names a nested field in one string ("prescribed.0.days"), a schema in parts.
    parts = [piece for part in loc if part != "body" for piece in str(part).split(".")]
    if not parts:
        return "sleep_time"  # the only whole-body rule: the wake window
    if parts[0] == "surgery_at":
        return "surgery_date"
    if parts[0] == "followup_at":
        return "followup_date"
    if parts[0] == "prescribed" and len(parts) >= 2:
        column = parts[2] if len(parts) > 2 else "title"
        return f"prescribed.{parts[1]}.{'times' if column == 'time' else column}"
    return parts[0]


def message_for(field: str, translate: Translate) -> str:
    return translate(MESSAGES[field.rsplit(".", 1)[-1]])


def errors_of(error: ValidationError | RequestValidationError, translate: Translate) -> FieldErrors:
    """Schema or service errors, keyed by form field, one message each."""
    errors: FieldErrors = {}
    for problem in error.errors():
        field = _field_of(problem.get("loc", ()))
        if field.rsplit(".", 1)[-1] in MESSAGES:
            errors.setdefault(field, message_for(field, translate))
    return errors or {"form": translate(MESSAGES["form"])}


def _split(typed: str) -> list[str]:
    return [part.strip() for part in typed.replace(";", ",").split(",") if part.strip()]


def _times(typed: str) -> str | list[str]:
    wording = typed.strip().lower().replace("-", " ")
    if wording == "as needed":
        return "as-needed"
    if wording == "all day":
        return "all-day"
    return _split(typed)


def enrolment_body(
    form: EnrolForm, translate: Translate
) -> tuple[PatientCreate | None, FieldErrors]:
    """The form as the API's `PatientCreate`, or every wrong field at once."""
    surgery_at, errors = surgery_moment(
        form.surgery_date, form.surgery_time, form.timezone, translate
    )
    prescribed = [
        {"title": title, "days": _split(days), "time": _times(times), "reminder": reminder}
        for title, days, times, reminder in form.rows()
        if title or days or times
    ]
    body = {
        "alias": form.alias,
        "protocol": form.protocol,
        # A stand-in while the date or zone is wrong, so the other fields are still checked.
        "surgery_at": surgery_at or datetime.fromisoformat("2000-01-01T00:00:00+00:00"),
        "timezone": form.timezone.strip() if "timezone" not in errors else "UTC",
        "language": form.language,
        "wake_time": form.wake_time.strip() or None,
        "sleep_time": form.sleep_time.strip() or None,
        "email": form.email.strip() or None,
        **contact_fields(form),
        "prescribed": prescribed,
    }
    try:
        created = PatientCreate.model_validate(body)
    except ValidationError as error:
        errors.update(renumber(errors_of(error, translate), filled_rows(form)))
        return None, errors
    return (None, errors) if errors else (created, errors)


def renumber(errors: FieldErrors, rows: list[int]) -> FieldErrors:
    """Prescribed errors point at the n-th filled row (`rows`): name the row on the form instead."""
    renamed: FieldErrors = {}
    for field, message in errors.items():
        parts = field.split(".")
        if parts[0] == "prescribed" and parts[1].isdigit() and int(parts[1]) < len(rows):
            field = f"prescribed.{rows[int(parts[1])]}.{parts[2]}"
        renamed[field] = message
    return renamed


def filled_rows(form: EnrolForm) -> list[int]:
    return [i for i, (title, days, times, _r) in enumerate(form.rows()) if title or days or times]


def surgery_change(
    form: SurgeryForm, translate: Translate
) -> tuple[PatientUpdate | None, FieldErrors]:
    """The move-the-surgery form as the API's `PatientUpdate` (moment and zone)."""
    surgery_at, errors = surgery_moment(
        form.surgery_date, form.surgery_time, form.timezone, translate
    )
    if surgery_at is None:
        return None, errors
    return PatientUpdate(surgery_at=surgery_at, timezone=form.timezone.strip()), errors


class FollowupForm(Inbound):
    """The follow-up visit as typed, on the patient's clock; Cancel sends `cancel`."""

    csrf_token: str | None = None
    followup_date: str = ""
    followup_time: str = ""
    followup_place: str = ""
    cancel: str | None = None


def followup_change(
    form: FollowupForm, zone: str, translate: Translate
) -> tuple[PatientUpdate | None, FieldErrors]:
    """The visit form as the API's `PatientUpdate`: a moment in the patient's zone and a
    place, or none at all when the visit is cancelled."""
    if form.cancel is not None:
        return PatientUpdate(followup_at=None, followup_place=None), {}
    errors: FieldErrors = {}
    try:
        day = date.fromisoformat(form.followup_date.strip())
    except ValueError:
        errors["followup_date"] = translate(MESSAGES["followup_date"])
    try:
        clock = parse_clock(form.followup_time.strip())
    except ValueError:
        errors["followup_time"] = translate(MESSAGES["followup_time"])
    if errors:
        return None, errors
    moment = datetime.combine(day, clock, tzinfo=ZoneInfo(zone))
    try:
        body = {"followup_at": moment, "followup_place": form.followup_place.strip() or None}
        return PatientUpdate.model_validate(body), {}
    except ValidationError as error:
        return None, errors_of(error, translate)
