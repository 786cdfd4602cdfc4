"""Signing in and out of the console."""

from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response

from aftercare.accounts.sessions import (
    close_every_session,
    close_session,
    console_user,
    open_session,
)
from aftercare.accounts.signin import SignInRefused
from aftercare.accounts.signin import sign_in as sign_in_nurse
from aftercare.console.web import SIGN_IN, ConsoleDep, audit, render
from aftercare.deps import NowDep, SessionDep, SettingsDep, client_of
from aftercare.web import CONSOLE_COOKIE, CsrfChecked

router = APIRouter(include_in_schema=False)
QUEUE = "/console/queue"


@router.get("/console", response_model=None)
def console_home(request: Request, session: SessionDep, now: NowDep) -> Response:
    """The flag queue once signed in; the sign-in page before."""
    token = request.cookies.get(CONSOLE_COOKIE)
    found = console_user(session, token, now) if token else None
    target = QUEUE if found else SIGN_IN
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


@router.get("/console/sign-in", response_model=None)
def sign_in_page(request: Request, timeout: bool = False, signed_out: bool = False) -> Response:
    return render(request, None, "console/sign_in.html", timeout=timeout, signed_out=signed_out)


@router.post("/console/sign-in", response_model=None)
def sign_in(
    _csrf: CsrfChecked,
    request: Request,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1000)],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    try:
        nurse = sign_in_nurse(
            session, settings, email, password, client_of(request), now, "console"
        )
    except SignInRefused as refused:
        if refused.retry_after is None:
            return render(request, None, "console/sign_in.html", status.HTTP_401_UNAUTHORIZED,
                          wrong=True, email=email)  # fmt: skip
        page = render(request, None, "console/sign_in.html", status.HTTP_429_TOO_MANY_REQUESTS,
                      locked=True, email=email)  # fmt: skip
        page.headers["Retry-After"] = str(refused.retry_after)
        return page
    token = open_session(session, nurse, now)
    response = RedirectResponse(QUEUE, status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        CONSOLE_COOKIE, token, httponly=True, samesite="strict", path="/console",
        secure=settings.base_url.startswith("https://"),
    )  # fmt: skip
    return response


def _signed_out() -> Response:
    response = RedirectResponse(f"{SIGN_IN}?signed_out=1", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(CONSOLE_COOKIE, path="/console")
    return response


@router.post("/console/sign-out", response_model=None)
def sign_out(
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
) -> Response:
    close_session(session, user.token_id, now)
    return _signed_out()


@router.post("/console/sign-out-everywhere", response_model=None)
def sign_out_everywhere(
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
) -> Response:
    audit(session, request, user, now, "nurse.signed-out-everywhere", "nurse", user.nurse.id)
    close_every_session(session, user.nurse.id, now)
    return _signed_out()
