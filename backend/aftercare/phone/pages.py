"""The patient's pages: the landing page, sign-in, Today and the plan; server-rendered,
working without JavaScript."""

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from aftercare.accounts.throttle import Attempts
from aftercare.checkins.answers import today_check_in
from aftercare.checkins.service import checked_in_that_day, checkin_days, placed_at
from aftercare.db import read_only, reads_on_loop
from aftercare.deps import ClientDep, NowDep, SessionDep, SettingsDep, clock
from aftercare.i18n import _, gettext_for
from aftercare.patients import service
from aftercare.patients.codes import normalise_code
from aftercare.patients.models import Patient
from aftercare.patients.qr import is_code_shaped, qr_svg
from aftercare.phone.shell import (
    DEFAULT_APP_NAME,
    PhoneDep,
    current_phone_values,
    render,
    secure_cookies,
)
from aftercare.plans.service import plan_day, plan_of, recovery_day, set_done
from aftercare.protocols.loader import Protocol
from aftercare.settings import Settings
from aftercare.web import SESSION_COOKIE, CsrfChecked, browser_language, page_context

router = APIRouter(include_in_schema=False)
# Today alone, tried right after the probe: FastAPI tries the routes in turn (a few µs
# each), and Today is the page phones open most (aftercare.app orders the routers).
today_router = APIRouter(include_in_schema=False)


@today_router.get("/today", response_model=None)
async def today(request: Request) -> Response:
    """The page phones open most, and it only reads: on a plain connection rather than a
    session (`db.read_only`). On SQLite its few indexed reads run on the event loop
    (`db.reads_on_loop`): a trip through the thread pool, and the fight of sixteen
    threads for the interpreter, cost more than the page itself. A database server is
    asked from the thread pool. The engine, settings and procedure files are read from
    the app's state, and the time from `clock`, rather than as dependencies: FastAPI's
    solving of each cost this page about 1% (bench/checkins.py)."""
    now = clock()
    engine: Engine = request.app.state.engine
    if reads_on_loop(engine):
        return _today(request, engine, now)
    return await run_in_threadpool(_today, request, engine, now)


def _today(request: Request, engine: Engine, now: datetime) -> Response:
    settings: Settings = request.app.state.settings
    protocols: dict[str, Protocol] = request.app.state.protocols
    with read_only(engine) as reads:
        patient = current_phone_values(request, reads, now)
        day = recovery_day(patient, now)
        shown_day = None
        if day is not None and day <= patient.plan_days:
            checked_in = checked_in_that_day(reads, patient.id, day)
            shown_day = plan_day(reads, patient, day, checked_in)
        protocol = protocols.get(patient.protocol_id)
        checking_in = today_check_in(reads, patient, protocol, day, now)
    context = page_context(
        request,
        patient.language,
        app_name=patient.app_name,
        day=day,
        days=patient.plan_days,
        plan_day=shown_day,
        checking_in=checking_in,
        clinic_phone=patient.clinic_phone,
        emergency_number=patient.emergency_number,
        visit=service.upcoming_visit(patient, now),
    )
    return render(request, settings, "patient/today.html", context)


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
    _csrf: CsrfChecked,
    code: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    client: ClientDep,
) -> Response:
    lang = browser_language(request)
    # Counted per address only: a code is never locked, so one address trying codes
    # never stops another's valid code from working.
    attempts = Attempts(session, settings, "enrol", client, now)
    wait = attempts.retry_after()
    spent = None if wait else service.spend_code(session, code, now, settings)
    if spent is None:
        if not wait:
            attempts.failed()
        context = page_context(request, lang, app_name=DEFAULT_APP_NAME, blocked=bool(wait))
        code_status = status.HTTP_429_TOO_MANY_REQUESTS if wait else status.HTTP_400_BAD_REQUEST
        page = render(request, settings, "patient/code_invalid.html", context, code_status)
        if wait:
            page.headers["Retry-After"] = str(wait)
        return page
    _patient_id, token = spent
    response = RedirectResponse("/today", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(timedelta(days=settings.patient_token_days).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
    )
    return response


@router.post("/today/done", response_model=None)
def tick(
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
    item: Annotated[str, Form(max_length=100)] = "",
    done: Annotated[str, Form(max_length=1)] = "",
    at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Tick an item off, or undo it: a plain form, so it works without JavaScript.

    The page's script sends the same form with `Accept: application/json` and
    the moment of the tap (`at`), and gets 204 instead of the page; offline,
    the service worker keeps it and sends it later. Sending it twice is
    harmless: the last state wins.
    """
    patient, _clinic = phone
    ticked = set_done(session, patient, item, done == "1", phone_time(at, patient, now))
    if not ticked:
        code = status.HTTP_409_CONFLICT if ticked is None else status.HTTP_404_NOT_FOUND
        return Response(status_code=code)
    if "application/json" in request.headers.get("accept", ""):
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return RedirectResponse(f"/today#item-{item}", status_code=status.HTTP_303_SEE_OTHER)


def phone_time(text: str, patient: Patient, now: datetime) -> datetime:
    """The moment the phone says something was done, unless its clock cannot be believed."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return now
    if moment.tzinfo is None:
        return now
    return placed_at(moment, patient.created_at, now)[0]


@router.get("/plan", response_model=None)
def plan_page(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    patient, clinic = phone
    context = page_context(
        request,
        patient.language,
        app_name=clinic.app_name,
        plan=plan_of(session, patient, checkin_days(session, patient.id)),
        today=recovery_day(patient, now),
    )
    return render(request, settings, "patient/plan.html", context)
