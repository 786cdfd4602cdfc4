"""The patient's pages: server-rendered, working without JavaScript."""

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from aftercare.accounts.models import Clinic
from aftercare.accounts.service import patient_by_token
from aftercare.accounts.throttle import Attempts
from aftercare.checkins.chart import PainPoint, pain_chart
from aftercare.checkins.schemas import CheckInCreate
from aftercare.checkins.service import Refused
from aftercare.checkins.service import history as checkin_history
from aftercare.checkins.service import receive as receive_checkin
from aftercare.deps import ClientDep, NowDep, ProtocolsDep, SessionDep, SettingsDep
from aftercare.i18n import _, gettext_for
from aftercare.messages.service import unread_for_patient
from aftercare.patients import service
from aftercare.patients.codes import normalise_code
from aftercare.patients.models import Patient
from aftercare.patients.qr import is_code_shaped, qr_svg
from aftercare.plans.service import plan_of, set_done
from aftercare.settings import Settings
from aftercare.web import (
    browser_language,
    check_csrf,
    make_templates,
    page_context,
    set_csrf_cookie,
)
from aftercare.writer import Writer

router = APIRouter(include_in_schema=False)
templates = make_templates()
SESSION_COOKIE = "session"
DEFAULT_APP_NAME = "Care"


def _secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def render(
    request: Request, settings: Settings, name: str, context: dict[str, object], code: int = 200
) -> HTMLResponse:
    # The Messages tab shows the unread count on every page of a signed-in phone.
    context.setdefault("unread_messages", getattr(request.state, "unread_messages", 0))
    response = templates.TemplateResponse(request, name, context, status_code=code)
    set_csrf_cookie(request, response, _secure(settings))
    return response


def signed_in(request: Request, session: Session, now: datetime) -> tuple[Patient, Clinic] | None:
    """The patient of this phone's session cookie and their clinic, in one query."""
    token = request.cookies.get(SESSION_COOKIE)
    found = patient_by_token(session, token, now) if token else None
    if found is not None:
        request.state.unread_messages = unread_for_patient(session, found[0].id)
    return found


def current_phone(request: Request, session: SessionDep, now: NowDep) -> tuple[Patient, Clinic]:
    """The signed-in phone's patient and clinic; a phone not signed in goes to the landing page."""
    found = signed_in(request, session, now)
    if found is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/"})
    return found


PhoneDep = Annotated[tuple[Patient, Clinic], Depends(current_phone)]


def to_landing() -> RedirectResponse:
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)


def own_page(
    request: Request,
    phone: tuple[Patient, Clinic],
    settings: Settings,
    template: str,
    **values: object,
) -> Response:
    """A page of the signed-in patient, in their language."""
    patient, clinic = phone
    context = page_context(request, patient.language, app_name=clinic.app_name, **values)
    return render(request, settings, template, context)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, settings: SettingsDep) -> HTMLResponse:
    lang = browser_language(request)
    return render(
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
    return render(request, settings, "patient/start.html", context)


@router.get("/start/{code}/qr.svg", response_model=None)
def start_qr(code: str, request: Request, settings: SettingsDep) -> Response:
    """The link as a QR code for the nurse to show; like the link, it spends nothing."""
    if not is_code_shaped(code):
        return Response(status_code=status.HTTP_404_NOT_FOUND)
    link = f"{settings.base_url.rstrip('/')}/start/{normalise_code(code)}"
    title = gettext_for(browser_language(request)).gettext(_("Sign-in link"))
    return Response(
        qr_svg(link, title),
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


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
        return render(request, settings, "patient/code_invalid.html", context, code_status)
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
def today(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    patient, clinic = phone
    day = service.recovery_day(patient, now)
    plan_day = None
    if day is not None and day <= patient.plan_days:
        plan_day = plan_of(session, patient, only_day=day).days[0]
    context = page_context(
        request,
        patient.language,
        app_name=clinic.app_name,
        day=day,
        days=patient.plan_days,
        plan_day=plan_day,
        clinic_phone=clinic.phone,
    )
    return render(request, settings, "patient/today.html", context)


@router.post("/today/done", response_model=None)
def tick(
    request: Request,
    phone: PhoneDep,
    session: SessionDep,
    now: NowDep,
    csrf_token: Annotated[str | None, Form()] = None,
    item: Annotated[str, Form(max_length=100)] = "",
    done: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Tick an item off, or undo it: a plain form, so it works without JavaScript.

    The page's script sends the same form with `Accept: application/json` and
    gets 204 instead of the page; offline, the service worker keeps it and
    sends it later. Sending it twice is harmless: the last state wins.
    """
    check_csrf(request, csrf_token)
    patient, _clinic = phone
    if not set_done(session, patient, item, done == "1", now):
        return Response(status_code=status.HTTP_404_NOT_FOUND)
    if "application/json" in request.headers.get("accept", ""):
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return RedirectResponse(f"/today#item-{item}", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/plan", response_model=None)
def plan_page(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    patient, clinic = phone
    context = page_context(
        request,
        patient.language,
        app_name=clinic.app_name,
        plan=plan_of(session, patient),
        today=service.recovery_day(patient, now),
    )
    return render(request, settings, "patient/plan.html", context)


def _checkin_form(
    request: Request,
    settings: Settings,
    patient: Patient,
    app_name: str,
    form: dict[str, str],
    errors: dict[str, str],
) -> HTMLResponse:
    context = page_context(
        request, patient.language, app_name=app_name, form=form, errors=errors,
        checkin_id=form.get("id") or str(uuid.uuid4()),
        # When the form was opened: sending it again (a double tap, a reload)
        # is then the very same check-in, stored once.
        recorded_at=form.get("recorded_at") or datetime.now(UTC).isoformat(),
    )  # fmt: skip
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK
    return render(request, settings, "patient/checkin.html", context, code)


@router.get("/checkin", response_model=None)
def checkin_page(request: Request, phone: PhoneDep, settings: SettingsDep) -> Response:
    """The check-in as a plain form: it works without JavaScript."""
    patient, clinic = phone
    return _checkin_form(request, settings, patient, clinic.app_name, {}, {})


@router.post("/checkin", response_model=None)
async def checkin_submit(
    request: Request, protocols: ProtocolsDep, settings: SettingsDep, now: NowDep
) -> Response:
    form = {key: str(value) for key, value in (await request.form()).items()}
    check_csrf(request, form.get("csrf_token"))
    token = request.cookies.get(SESSION_COOKIE)
    writer: Writer = request.app.state.writer
    found = await writer.submit(partial(_patient_and_clinic, token=token, now=now))
    if found is None:
        return to_landing()
    patient, clinic = found
    body = {
        "id": form.get("id"),
        "recorded_at": form.get("recorded_at") or now.isoformat(),
        "pain": int(form["pain"]) if form.get("pain", "").isdigit() else None,
        "temperature_c": float(form["temperature_c"])
        if _is_number(form.get("temperature_c"))
        else None,
        "bleeding": form.get("bleeding"),
        "discharge": form.get("discharge"),
        "urination": form.get("urination"),
        "allergy": form.get("allergy"),
        "nausea": form.get("nausea") == "true",
        "wants_contact": form.get("wants_contact") == "true",
        "note": form.get("note", ""),
    }
    try:
        checkin = CheckInCreate.model_validate(body)
    except ValidationError as exc:
        errors = {str(error["loc"][0]): error["msg"] for error in exc.errors()}
        if form.get("temperature_c") and not _is_number(form.get("temperature_c")):
            errors["temperature_c"] = "not a number"
        return _checkin_form(request, settings, patient, clinic.app_name, form, errors)
    outcome = await writer.submit(
        partial(receive_checkin, token=token, body=checkin, protocols=protocols, now=now)
    )
    if isinstance(outcome, Refused):
        return _checkin_form(
            request, settings, patient, clinic.app_name, form, {"form": outcome.detail}
        )
    context = page_context(
        request, patient.language, app_name=clinic.app_name, answer=outcome.answer,
        clinic_phone=clinic.phone, emergency_number=clinic.emergency_number,
    )  # fmt: skip
    return render(request, settings, "patient/checkin_answer.html", context)


def _is_number(text: str | None) -> bool:
    try:
        return text is not None and text.strip() != "" and float(text) == float(text)
    except ValueError:
        return False


def _patient_and_clinic(
    db: Session, token: str | None, now: datetime
) -> tuple[Patient, Clinic] | None:
    found = patient_by_token(db, token, now) if token else None
    if found is None:
        return None
    patient, clinic = found
    db.expunge(patient)
    db.expunge(clinic)
    return patient, clinic


@router.get("/history", response_model=None)
def history_page(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep
) -> Response:
    patient, clinic = phone
    checkins = checkin_history(session, patient, limit=200, offset=0)
    # One point a day: the latest answer of that day.
    latest: dict[int, int] = {}
    for checkin in reversed(checkins):
        latest[checkin.day] = checkin.pain
    translate = gettext_for(patient.language).gettext
    summary = ", ".join(
        translate(_("Day %(day)s: %(pain)s")) % {"day": day, "pain": pain}
        for day, pain in sorted(latest.items())
    )
    title = translate(_("Pain by day")) + (": " + summary if summary else "")
    context = page_context(
        request,
        patient.language,
        app_name=clinic.app_name,
        checkins=checkins,
        chart=pain_chart([PainPoint(d, p) for d, p in latest.items()], patient.plan_days, title),
    )
    return render(request, settings, "patient/history.html", context)
