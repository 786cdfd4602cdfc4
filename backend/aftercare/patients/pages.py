"""The patient's pages (server-rendered; the full app comes with the PWA)."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from aftercare.accounts.models import Clinic
from aftercare.accounts.service import token_owner
from aftercare.accounts.throttle import Attempts
from aftercare.deps import ClientDep, NowDep, SessionDep, SettingsDep
from aftercare.patients import service
from aftercare.patients.models import Patient
from aftercare.plans.service import plan_of
from aftercare.settings import Settings
from aftercare.web import (
    browser_language,
    check_csrf,
    make_templates,
    page_context,
    set_csrf_cookie,
)

router = APIRouter(include_in_schema=False)
templates = make_templates()
SESSION_COOKIE = "session"
DEFAULT_APP_NAME = "Care"


def _secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def _render(
    request: Request, settings: Settings, name: str, context: dict[str, object], code: int = 200
) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=code)
    set_csrf_cookie(request, response, _secure(settings))
    return response


def signed_in_patient(request: Request, session: Session, now: NowDep) -> Patient | None:
    token = request.cookies.get(SESSION_COOKIE)
    owner = token_owner(session, token, now) if token else None
    return session.get(Patient, owner.patient_id) if owner and owner.patient_id else None


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, settings: SettingsDep) -> HTMLResponse:
    lang = browser_language(request)
    return _render(
        request,
        settings,
        "patient/landing.html",
        page_context(request, lang, app_name=DEFAULT_APP_NAME),
    )


@router.get("/start/{code}", response_class=HTMLResponse)
def start(code: str, request: Request, settings: SettingsDep) -> HTMLResponse:
    """Only a page with a button: a link preview fetching this must not spend the code."""
    lang = browser_language(request)
    context = page_context(request, lang, app_name=DEFAULT_APP_NAME, code=code)
    return _render(request, settings, "patient/start.html", context)


@router.post("/start/{code}", response_model=None)
def start_submit(
    code: str,
    request: Request,
    csrf_token: Annotated[str | None, Form()],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    client: ClientDep,
) -> Response:
    check_csrf(request, csrf_token)
    lang = browser_language(request)
    attempts = Attempts(session, settings, "enrol", client, now)
    blocked = attempts.blocked
    spent = None if blocked else service.spend_code(session, code, now, settings)
    if spent is None:
        if not blocked:
            attempts.failed()
        context = page_context(request, lang, app_name=DEFAULT_APP_NAME, blocked=blocked)
        code_status = status.HTTP_429_TOO_MANY_REQUESTS if blocked else status.HTTP_400_BAD_REQUEST
        return _render(request, settings, "patient/code_invalid.html", context, code_status)
    _patient_id, token = spent
    response = RedirectResponse("/today", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(timedelta(days=settings.patient_token_days).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
    )
    return response


@router.get("/today", response_model=None)
def today(request: Request, session: SessionDep, settings: SettingsDep, now: NowDep) -> Response:
    patient = signed_in_patient(request, session, now)
    if patient is None:
        return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    clinic = session.get(Clinic, patient.clinic_id)
    day = service.recovery_day(patient, now)
    plan_day = None
    if day is not None and day <= patient.plan_days:
        plan_day = plan_of(session, patient, only_day=day).days[0]
    context = page_context(
        request,
        patient.language,
        app_name=clinic.app_name if clinic else DEFAULT_APP_NAME,
        day=day,
        days=patient.plan_days,
        plan_day=plan_day,
        clinic_phone=clinic.phone if clinic else None,
    )
    return _render(request, settings, "patient/today.html", context)
