"""What every patient page shares: the signed-in phone, the frame, the headers.

A phone signs in with its session cookie (`web.SESSION_COOKIE`), which holds the same
device token as the API's bearer; a phone not signed in goes to the landing page.
"""

from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from aftercare.accounts.models import Clinic
from aftercare.db import Reads
from aftercare.deps import NowDep, SessionDep
from aftercare.messages.service import unread_for_patient
from aftercare.patients.deps import patient_by_token
from aftercare.patients.models import Patient
from aftercare.patients.service import Phone, phone_by_token
from aftercare.settings import Settings
from aftercare.web import SESSION_COOKIE, make_templates, page_context, set_csrf_cookie

templates = make_templates()
# The answer to a check-in and the follow-up visit, as several pages show them.
templates.share_macros("patient/_answer.html")
templates.share_macros("patient/_visit.html")
DEFAULT_APP_NAME = "Care"


def secure_cookies(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def render(
    request: Request, settings: Settings, name: str, context: dict[str, object], code: int = 200
) -> HTMLResponse:
    # The Messages tab shows the unread count on every page of a signed-in phone.
    context.setdefault("unread_messages", getattr(request.state, "unread_messages", 0))
    response = templates.TemplateResponse(request, name, context, status_code=code)
    set_csrf_cookie(request, response, secure_cookies(settings))
    # Personal pages stay off the browser's disk and out of its back-forward cache;
    # the service worker keeps its own copies for offline use.
    response.headers["Cache-Control"] = "no-store"
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


def current_phone_values(request: Request, session: Reads, now: datetime) -> Phone:
    """`current_phone` as plain values, read on the driver's cursor: for the pages that
    only read (Today, the page phones open most)."""
    token = request.cookies.get(SESSION_COOKIE)
    found = phone_by_token(session, token, now) if token else None
    if found is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/"})
    request.state.unread_messages = unread_for_patient(session, found.id)
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
