"""The console's inbox and threads with patients.

They work without JavaScript: plain forms, a redirect after each message.
"""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aftercare.accounts.sessions import ConsoleUser
from aftercare.console.web import ConsoleDep, console_language
from aftercare.console.web import render as render_console
from aftercare.deps import NowDep, SessionDep, client_of
from aftercare.messages import service
from aftercare.messages.schemas import MessageCreate, body_problem
from aftercare.patients.deps import own_patient, still_in_care
from aftercare.patients.models import Patient
from aftercare.web import CsrfChecked, clock

router = APIRouter(include_in_schema=False)

TextField = Annotated[str | None, Form()]


@router.get("/console/messages", response_class=HTMLResponse)
def console_inbox(request: Request, user: ConsoleDep, session: SessionDep) -> HTMLResponse:
    """The clinic's threads: unread patient messages first, then the most recent."""
    threads = service.inbox(session, user.clinic.id)
    when = clock(console_language(request, user), user.clinic.timezone)
    return render_console(request, user, "console/messages.html", threads=threads, when=when)


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
    patient = own_patient(session, user.nurse, patient_id)
    return _thread_page(request, user, session, patient, now)


@router.post("/console/patients/{patient_id}/messages", response_model=None)
def console_write(
    patient_id: uuid.UUID,
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
    body: TextField = None,
) -> Response:
    """Send the patient a message; their phone shows only that a message is waiting."""
    patient = still_in_care(own_patient(session, user.nurse, patient_id))
    try:
        message = MessageCreate(body=body or "")
    except ValidationError as exc:
        error = body_problem(exc, console_language(request, user))
        return _thread_page(request, user, session, patient, now, body or "", error)
    service.send_by_nurse(session, patient, user.nurse.id, message.body, now, client_of(request))
    return RedirectResponse(
        f"/console/patients/{patient.id}/messages#latest", status_code=status.HTTP_303_SEE_OTHER
    )
