"""The patient's Messages page: the thread with the clinic, and the reply form.

It works without JavaScript: a plain form, a redirect after each message; the service
worker replays a reply written offline.
"""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from aftercare.accounts.models import Clinic
from aftercare.deps import NowDep, SessionDep, SettingsDep, client_of
from aftercare.messages import service
from aftercare.messages.schemas import PatientMessageCreate, body_problem
from aftercare.patients.models import Patient
from aftercare.phone.pages import phone_time
from aftercare.phone.shell import PhoneDep, render
from aftercare.settings import Settings
from aftercare.web import CsrfChecked, clock, page_context

router = APIRouter(include_in_schema=False)

TextField = Annotated[str | None, Form()]


def _is_prefetch(request: Request) -> bool:
    # The service worker fetches the page ahead for offline use: no one has read anything yet.
    purpose = request.headers.get("sec-purpose") or request.headers.get("purpose") or ""
    return "prefetch" in purpose


def _client_id(text: str | None) -> uuid.UUID:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        return uuid.uuid4()


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
    _csrf: CsrfChecked,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    reply_id: Annotated[str | None, Form(alias="id")] = None,
    body: TextField = None,
    written_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """A reply from the no-JavaScript form, or replayed by the service worker once online."""
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
