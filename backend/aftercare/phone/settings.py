"""The patient's Settings page: language, reminders, waking hours, notifications on this phone."""

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError

from aftercare.care.service import update_me
from aftercare.deps import NowDep, SessionDep, SettingsDep, WriterDep
from aftercare.i18n import _, gettext_for
from aftercare.patients.models import Patient
from aftercare.phone.shell import PhoneDep, render, signed_in
from aftercare.protocols.deps import ProtocolsDep
from aftercare.reminders.endpoint_check import require_public_endpoint
from aftercare.reminders.schemas import MeUpdate, PushSubscriptionCreate
from aftercare.reminders.service import queue_test, subscribe, unsubscribe
from aftercare.settings import Settings
from aftercare.web import CsrfChecked, page_context

router = APIRouter(include_in_schema=False)

LANGUAGE_NAMES = (("en", "English"), ("fr", "Français"), ("ar", "العربية"), ("tr", "Türkçe"))

HOURS_FORMAT = _("Please enter a time as HH:MM, like 07:30.")
HOURS_WINDOW = _(
    "Please choose a time to go to sleep at least 4 hours after the time you wake up, "
    "on the same day: reminders cannot yet continue past midnight."
)


def mask_email(address: str) -> str:
    """Enough of an address to recognise it, little for someone looking over a shoulder."""
    local, _at, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}" if local else "•••"


def _settings_page(
    request: Request,
    settings: Settings,
    patient: Patient,
    app_name: str,
    saved: str | None = None,
    errors: bool = False,
    hours: dict[str, str] | None = None,
    hours_errors: dict[str, str] | None = None,
    sent_to: list[str] | None = None,
    contact: dict[str, object] | None = None,
    contact_error: bool = False,
) -> HTMLResponse:
    hours = hours or {
        "wake_time": patient.wake_time.strftime("%H:%M"),
        "sleep_time": patient.sleep_time.strftime("%H:%M"),
    }
    context = page_context(
        request, patient.language, app_name=app_name, languages=LANGUAGE_NAMES,
        channels=patient.channels, email=patient.email, saved=saved, errors=errors,
        calendar_url=f"{settings.base_url.rstrip('/')}/calendar/{patient.calendar_token}.ics",
        hours=hours, hours_errors=hours_errors or {}, sent_to=sent_to,
        masked_email=mask_email(patient.email) if patient.email else "",
        contact=contact or {
            "phone": patient.phone or "", "safe": patient.phone_safe_to_call,
            "message": patient.phone_leave_message, "best_time": patient.phone_best_time or "",
        },
        contact_error=contact_error,
    )  # fmt: skip
    invalid = errors or bool(hours_errors) or contact_error
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if invalid else status.HTTP_200_OK
    return render(request, settings, "patient/settings.html", context, code)


@router.get("/settings", response_model=None)
def settings_page(request: Request, phone: PhoneDep, settings: SettingsDep) -> Response:
    patient, clinic = phone
    return _settings_page(request, settings, patient, clinic.app_name)


@router.post("/settings", response_model=None)
def settings_submit(
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    settings: SettingsDep,
    now: NowDep,
    language: Annotated[str, Form()] = "",
    channels: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies it)
    email: Annotated[str, Form()] = "",
) -> Response:
    patient, clinic = phone
    app_name = clinic.app_name
    kept = [c for c in patient.channels if c == "push"]
    try:
        changes = MeUpdate.model_validate(
            {
                "language": language or patient.language,
                "channels": kept + channels,
                "email": email or None,
            }
        )
    except ValidationError:
        return _settings_page(request, settings, patient, app_name, errors=True)
    update_me(session, writer, patient, changes, now)
    message = gettext_for(patient.language).gettext(_("Saved."))
    return _settings_page(request, settings, patient, app_name, saved=message)


@router.post("/settings/phone", response_model=None)
def settings_phone(
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    settings: SettingsDep,
    now: NowDep,
    number: Annotated[str, Form()] = "",
    safe: Annotated[str | None, Form()] = None,
    message: Annotated[str | None, Form()] = None,
    best_time: Annotated[str, Form()] = "",
    remove: Annotated[str | None, Form()] = None,
) -> Response:
    """The patient's own number for the clinic, and how it may be used; or none."""
    patient, clinic = phone
    typed = {"phone": number, "safe": safe is not None, "message": message is not None,
             "best_time": best_time}  # fmt: skip
    try:
        changes = MeUpdate.model_validate(
            {"phone": None}
            if remove is not None
            else {
                "phone": number.strip() or None,
                "phone_safe_to_call": safe is not None,
                "phone_leave_message": message is not None,
                "phone_best_time": best_time.strip() or None,
            }
        )
    except ValidationError:
        return _settings_page(
            request, settings, patient, clinic.app_name, contact=typed, contact_error=True
        )
    update_me(session, writer, patient, changes, now)
    saved = gettext_for(patient.language).gettext(_("Saved."))
    return _settings_page(request, settings, patient, clinic.app_name, saved=saved)


def _clock_field(raw: str) -> str:
    """A typed time as the API reads it: "7:30" (a browser without a time picker) is 07:30."""
    raw = raw.strip()
    return f"0{raw}" if re.fullmatch(r"[0-9]:[0-5][0-9]", raw) else raw


@router.post("/settings/hours", response_model=None)
def settings_hours(
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    settings: SettingsDep,
    protocols: ProtocolsDep,
    now: NowDep,
    wake_time: Annotated[str, Form()] = "",
    sleep_time: Annotated[str, Form()] = "",
) -> Response:
    """New waking hours: the plan's times and the waiting reminders move, as a nurse's change."""
    patient, clinic = phone
    translate = gettext_for(patient.language).gettext
    form = {"wake_time": _clock_field(wake_time), "sleep_time": _clock_field(sleep_time)}
    problems: dict[str, str] = {}
    try:
        update_me(session, writer, patient, MeUpdate.model_validate(form), now, protocols)
    except ValidationError as error:
        problems = {str(e["loc"][0]): translate(HOURS_FORMAT) for e in error.errors() if e["loc"]}
    except RequestValidationError as error:
        session.rollback()
        problems = {str(e["loc"][-1]): translate(HOURS_WINDOW) for e in error.errors()}
    if problems:
        return _settings_page(
            request, settings, patient, clinic.app_name, hours=form, hours_errors=problems
        )
    message = translate(_("Saved. Reminders now come between %(wake)s and %(sleep)s.")) % {
        "wake": patient.wake_time.strftime("%H:%M"),
        "sleep": patient.sleep_time.strftime("%H:%M"),
    }
    return _settings_page(request, settings, patient, clinic.app_name, saved=message)


class PushOff(BaseModel):
    endpoint: str = Field(min_length=1, max_length=2000)


@router.post("/settings/push", response_model=None)
def settings_push(
    _csrf: CsrfChecked,
    request: Request,
    subscription: PushSubscriptionCreate,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> Response:
    """Keep this phone's push subscription (the page's script sends it as JSON)."""
    found = signed_in(request, session, now)
    if found is None:
        return Response(status_code=status.HTTP_401_UNAUTHORIZED)
    require_public_endpoint(subscription, settings)
    subscribe(session, found[0], subscription, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/settings/push/off", response_model=None)
def settings_push_off(
    _csrf: CsrfChecked,
    request: Request,
    body: PushOff,
    session: SessionDep,
    now: NowDep,
) -> Response:
    found = signed_in(request, session, now)
    if found is None:
        return Response(status_code=status.HTTP_401_UNAUTHORIZED)
    unsubscribe(session, found[0], body.endpoint, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/settings/test", response_model=None)
def settings_test(
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    patient, clinic = phone
    sent_to = queue_test(session, patient, now, "patient", patient.id)
    return _settings_page(request, settings, patient, clinic.app_name, sent_to=sent_to)
