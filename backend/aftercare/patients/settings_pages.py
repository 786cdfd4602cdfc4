"""The patient's Settings page: language, reminders, notifications on this phone."""

from typing import Annotated

from fastapi import APIRouter, Form, Header, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError

from aftercare.deps import NowDep, SessionDep, SettingsDep
from aftercare.i18n import _, gettext_for
from aftercare.patients.models import Patient
from aftercare.patients.pages import PhoneDep, render, signed_in
from aftercare.reminders.schemas import MeUpdate, PushSubscriptionCreate
from aftercare.reminders.service import queue_test, subscribe, unsubscribe, update_me
from aftercare.settings import Settings
from aftercare.web import check_csrf, page_context

router = APIRouter(include_in_schema=False)

LANGUAGE_NAMES = (("en", "English"), ("fr", "Français"), ("ar", "العربية"), ("tr", "Türkçe"))


def _settings_page(
    request: Request,
    settings: Settings,
    patient: Patient,
    app_name: str,
    saved: str | None = None,
    errors: bool = False,
) -> HTMLResponse:
    context = page_context(
        request, patient.language, app_name=app_name, languages=LANGUAGE_NAMES,
        channels=patient.channels, email=patient.email, saved=saved, errors=errors,
        calendar_url=f"{settings.base_url.rstrip('/')}/calendar/{patient.calendar_token}.ics",
    )  # fmt: skip
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK
    return render(request, settings, "patient/settings.html", context, code)


@router.get("/settings", response_model=None)
def settings_page(request: Request, phone: PhoneDep, settings: SettingsDep) -> Response:
    patient, clinic = phone
    return _settings_page(request, settings, patient, clinic.app_name)


@router.post("/settings", response_model=None)
def settings_submit(
    request: Request,
    phone: PhoneDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    csrf_token: Annotated[str | None, Form()] = None,
    language: Annotated[str, Form()] = "",
    channels: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies it)
    email: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
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
    update_me(session, patient, changes, now)
    message = gettext_for(patient.language).gettext(_("Saved."))
    return _settings_page(request, settings, patient, app_name, saved=message)


class PushOff(BaseModel):
    endpoint: str = Field(min_length=1, max_length=2000)


@router.post("/settings/push", response_model=None)
def settings_push(
    request: Request,
    subscription: PushSubscriptionCreate,
    session: SessionDep,
    now: NowDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Response:
    """Keep this phone's push subscription (the page's script sends it as JSON)."""
    check_csrf(request, x_csrf_token)
    found = signed_in(request, session, now)
    if found is None:
        return Response(status_code=status.HTTP_401_UNAUTHORIZED)
    subscribe(session, found[0], subscription, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/settings/push/off", response_model=None)
def settings_push_off(
    request: Request,
    body: PushOff,
    session: SessionDep,
    now: NowDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Response:
    check_csrf(request, x_csrf_token)
    found = signed_in(request, session, now)
    if found is None:
        return Response(status_code=status.HTTP_401_UNAUTHORIZED)
    unsubscribe(session, found[0], body.endpoint, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/settings/test", response_model=None)
def settings_test(
    request: Request,
    phone: PhoneDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    patient, clinic = phone
    queue_test(session, patient, now, "patient", patient.id)
    message = gettext_for(patient.language).gettext(
        _("A test notification is on its way. It should arrive within a minute.")
    )
    return _settings_page(request, settings, patient, clinic.app_name, saved=message)
