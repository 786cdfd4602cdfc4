"""What every console page shares: the signed-in nurse, rendering, the audit trail."""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from aftercare.accounts.sessions import ConsoleUser, console_user
from aftercare.audit.service import record
from aftercare.deps import NowDep, SessionDep, client_of
from aftercare.messages.service import unread_for_clinic
from aftercare.web import (
    CONSOLE_COOKIE,
    browser_language,
    make_templates,
    page_context,
    set_csrf_cookie,
)

SIGN_IN = "/console/sign-in"
BACKGROUND = ("/console/queue/events", "/console/queue/list")
templates = make_templates()


def _to_sign_in(reason: str | None = None) -> HTTPException:
    location = f"{SIGN_IN}?{reason}=1" if reason else SIGN_IN
    return HTTPException(status_code=status.HTTP_303_SEE_OTHER, headers={"Location": location})


def current_console_user(request: Request, session: SessionDep, now: NowDep) -> ConsoleUser:
    """The nurse signed in on this browser, or a redirect to the sign-in page."""
    token = request.cookies.get(CONSOLE_COOKIE)
    # The live queue's own requests are not the nurse's activity: an unattended
    # queue must still sign itself out.
    touch = not request.url.path.startswith(BACKGROUND)
    found = console_user(session, token, now, touch) if token else None
    if found is False:
        raise _to_sign_in("timeout")
    if not isinstance(found, ConsoleUser):
        raise _to_sign_in()
    # For the navigation's badge on every page: one indexed count.
    request.state.unread_messages = unread_for_clinic(session, found.clinic.id)
    return found


def current_admin(user: Annotated[ConsoleUser, Depends(current_console_user)]) -> ConsoleUser:
    # Not "forbidden": a page an ordinary nurse cannot use does not exist for them.
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND)
    return user


ConsoleDep = Annotated[ConsoleUser, Depends(current_console_user)]
AdminDep = Annotated[ConsoleUser, Depends(current_admin)]


def console_language(request: Request, user: ConsoleUser | None) -> str:
    """The nurse's own language (My account), else the browser's: every console page,
    reason and label is in it, whatever the patient's language."""
    if user is not None and user.nurse.language:
        return user.nurse.language
    return browser_language(request)


def render(
    request: Request,
    user: ConsoleUser | None,
    template: str,
    code: int = status.HTTP_200_OK,
    **values: Any,
) -> HTMLResponse:
    """A console page in the nurse's language; never kept in a cache."""
    lang = console_language(request, user)
    unread = getattr(request.state, "unread_messages", 0) if user else 0
    context = page_context(request, lang, user=user, clinic=user.clinic if user else None,
                           unread_messages=unread, **values)  # fmt: skip
    response = templates.TemplateResponse(request, template, context, status_code=code)
    secure = request.app.state.settings.base_url.startswith("https://")
    set_csrf_cookie(request, response, secure)
    response.headers["Cache-Control"] = "no-store"
    return response


def audit(
    session: SessionDep,
    request: Request,
    user: ConsoleUser,
    now: Any,
    action: str,
    subject: str,
    subject_id: object,
    **detail: Any,
) -> None:
    """Add who did what, to what, when and from where to the caller's transaction."""
    record(session, now, user.clinic.id, "nurse", user.nurse.id, action, subject, subject_id,
           client=client_of(request), **detail)  # fmt: skip
