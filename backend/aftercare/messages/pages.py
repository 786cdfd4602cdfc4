"""The thread as pages: the patient's Messages page and the console's inbox and threads.

Both sides work without JavaScript: plain forms, a redirect after each message.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aftercare.accounts.models import Clinic
from aftercare.console.session import ConsoleUser
from aftercare.console.web import ConsoleDep, console_language
from aftercare.console.web import render as render_console
from aftercare.deps import NowDep, SessionDep, SettingsDep, client_of
from aftercare.i18n import _, gettext_for
from aftercare.messages import service
from aftercare.messages.schemas import MessageCreate, PatientMessageCreate
from aftercare.patients.endpoints import still_in_care
from aftercare.patients.models import Patient
from aftercare.patients.pages import PhoneDep, phone_time, render
from aftercare.patients.service import clinic_patient
from aftercare.settings import Settings
from aftercare.web import check_csrf, local_moment, page_context

router = APIRouter(include_in_schema=False)

TextField = Annotated[str | None, Form()]
TOO_LONG = _("Please keep your message to 2000 characters or fewer.")
EMPTY = _("Please write a message first.")


def clock(language: str, timezone: str) -> Callable[[datetime], str]:
    """How a page shows a moment: in the reader's language, on the clock of the given zone."""
    zone = ZoneInfo(timezone)
    return lambda moment: local_moment(moment, zone, language)


def body_problem(exc: ValidationError, language: str) -> str:
    """The body's error, in words for a person rather than the validator's."""
    too_long = any(error["type"] == "string_too_long" for error in exc.errors())
    return gettext_for(language).gettext(TOO_LONG if too_long else EMPTY)


def _is_prefetch(request: Request) -> bool:
    # The service worker fetches the page ahead for offline use: no one has read anything yet.
    purpose = request.headers.get("sec-purpose") or request.headers.get("purpose") or ""
    return "prefetch" in purpose


def _client_id(text: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        return uuid.uuid4()


# --- the patient's side ------------------------------------------------------------


def _patient_page(
    request: Request,
    settings: Settings,
    patient: Patient,
    clinic: Clinic,
    entries: list[service.Entry],
    now: datetime,
    form: dict[str, str] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    context = page_context(
        request, patient.language, app_name=clinic.app_name, messages=entries,
        # Marked read by this very visit: shown as new once.
        new={entry.id for entry in entries if entry.sender == "nurse" and entry.read_at == now},
        when=clock(patient.language, patient.timezone),
        # Made when the page is rendered: the same reply sent twice is stored once.
        message_id=(form or {}).get("id") or str(uuid.uuid4()),
        form=form or {}, error=error,
    )  # fmt: skip
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK
    return render(request, settings, "patient/messages.html", context, code)


@router.get("/messages", response_model=None)
def patient_messages(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep, now: NowDep
) -> Response:
    """The patient's thread, newest at the bottom; the clinic's messages are read from now on."""
    patient, clinic = phone
    entries = service.read_by_patient(session, patient, now, mark=not _is_prefetch(request))
    return _patient_page(request, settings, patient, clinic, entries, now)


@router.post("/messages", response_model=None)
def patient_reply(
    request: Request,
    phone: PhoneDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    csrf_token: TextField = None,
    reply_id: Annotated[str | None, Form(alias="id")] = None,
    body: TextField = None,
    written_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A reply from the no-JavaScript form, or replayed by the service worker once online."""
    check_csrf(request, csrf_token)
    patient, clinic = phone
    replayed = "application/json" in request.headers.get("accept", "")
    message_id = _client_id(reply_id)
    try:
        message = PatientMessageCreate(id=message_id, body=body or "")
    except ValidationError as exc:
        if replayed:
            return Response(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
        entries = service.read_by_patient(session, patient, now, mark=False)
        form = {"id": str(message_id), "body": body or ""}
        error = body_problem(exc, patient.language)
        return _patient_page(request, settings, patient, clinic, entries, now, form, error)
    client = client_of(request)
    written = phone_time(written_at, patient, now)
    sent = service.send_by_patient(session, patient, message, now, client, written)
    if sent is None:
        # The id was already used for other words: an old copy of the page, sent again.
        # These words are a new message; their id comes from both, so a resend stays single.
        renamed = message.model_copy(update={"id": uuid.uuid5(message_id, message.body)})
        sent = service.send_by_patient(session, patient, renamed, now, client, written)
    if sent is None:
        return Response(status_code=status.HTTP_409_CONFLICT)
    if replayed:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return RedirectResponse("/messages#latest", status_code=status.HTTP_303_SEE_OTHER)


# --- the console's side ------------------------------------------------------------


@router.get("/console/messages", response_class=HTMLResponse)
def console_inbox(request: Request, user: ConsoleDep, session: SessionDep) -> HTMLResponse:
    """The clinic's threads: unread patient messages first, then the most recent."""
    threads = service.inbox(session, user.clinic.id)
    when = clock(console_language(request, user), user.clinic.timezone)
    return render_console(request, user, "console/messages.html", threads=threads, when=when)


def _own_patient(session: SessionDep, user: ConsoleUser, patient_id: uuid.UUID) -> Patient:
    patient = clinic_patient(session, user.nurse, patient_id)
    if patient is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND)
    return patient


def _thread_page(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    patient: Patient,
    now: datetime,
    body: str = "",
    error: str | None = None,
) -> HTMLResponse:
    entries = service.read_by_nurse(session, patient, user.nurse.id, now, client_of(request))
    when = clock(console_language(request, user), user.clinic.timezone)
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if error else status.HTTP_200_OK
    return render_console(
        request, user, "console/thread.html", code, patient=patient, messages=entries,
        when=when, body=body, error=error,
    )  # fmt: skip


@router.get("/console/patients/{patient_id}/messages", response_class=HTMLResponse)
def console_thread(
    patient_id: uuid.UUID, request: Request, user: ConsoleDep, session: SessionDep, now: NowDep
) -> HTMLResponse:
    """One patient's thread; their messages count as read from now on. Audited."""
    patient = _own_patient(session, user, patient_id)
    return _thread_page(request, user, session, patient, now)


@router.post("/console/patients/{patient_id}/messages", response_model=None)
def console_write(
    patient_id: uuid.UUID,
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    now: NowDep,
    csrf_token: TextField = None,
    body: TextField = None,
) -> Response:
    """Send the patient a message; their phone shows only that a message is waiting."""
    check_csrf(request, csrf_token)
    patient = still_in_care(_own_patient(session, user, patient_id))
    try:
        message = MessageCreate(body=body or "")
    except ValidationError as exc:
        error = body_problem(exc, console_language(request, user))
        return _thread_page(request, user, session, patient, now, body or "", error)
    service.send_by_nurse(session, patient, user.nurse.id, message.body, now, client_of(request))
    return RedirectResponse(
        f"/console/patients/{patient.id}/messages#latest", status_code=status.HTTP_303_SEE_OTHER
    )
