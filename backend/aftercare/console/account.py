"""A nurse's own account: name and language, alerts on this computer, signing out
everywhere."""

import unicodedata
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from aftercare.console.enrol import LANGUAGE_NAMES
from aftercare.console.web import ConsoleDep, audit, render
from aftercare.deps import NowDep, SessionDep, SettingsDep
from aftercare.i18n import SUPPORTED_LANGUAGES, _
from aftercare.reminders.endpoint_check import require_public_endpoint
from aftercare.reminders.schemas import PushSubscriptionCreate
from aftercare.reminders.service import subscribe_nurse, unsubscribe_nurse
from aftercare.settings import FRONTEND_DIR
from aftercare.web import CsrfChecked

router = APIRouter(include_in_schema=False)
ACCOUNT = "/console/account"
NAME_MAX = 80


class PushOff(BaseModel):
    endpoint: str = Field(min_length=1, max_length=2000)


def _page(
    request: Request, user: ConsoleDep, code: int = status.HTTP_200_OK, **values: object
) -> HTMLResponse:
    return render(request, user, "console/account.html", code,
                  languages=[(tag, LANGUAGE_NAMES[tag]) for tag in SUPPORTED_LANGUAGES],
                  **values)  # fmt: skip


@router.get(ACCOUNT, response_model=None)
def account_page(request: Request, user: ConsoleDep, saved: str = "") -> Response:
    return _page(request, user, saved=saved == "1")


def _name_problem(name: str) -> str | None:
    if len(name) > NAME_MAX:
        return _("Name: at most 80 characters.")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        return _("Name: letters, spaces and punctuation only.")
    return None


@router.post(ACCOUNT, response_model=None)
def account_change(
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
    display_name: Annotated[str, Form(max_length=1000)] = "",
    language: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The nurse's name as colleagues see it, and the console's language (empty: the
    browser's)."""
    name = " ".join(display_name.split())
    errors: dict[str, str] = {}
    if problem := _name_problem(name):
        errors["display_name"] = problem
    if language and language not in SUPPORTED_LANGUAGES:
        errors["language"] = _("Language: choose one of the list.")
    if errors:
        form = {"display_name": display_name[:NAME_MAX], "language": language}
        return _page(request, user, status.HTTP_422_UNPROCESSABLE_CONTENT, errors=errors, form=form)
    nurse = user.nurse
    nurse.display_name, nurse.language = name, language or None
    session.add(nurse)
    audit(session, request, user, now, "nurse.account-changed", "nurse", nurse.id)
    return RedirectResponse(f"{ACCOUNT}?saved=1", status_code=status.HTTP_303_SEE_OTHER)


@router.get("/console/sw.js")
def console_service_worker() -> FileResponse:
    """The console's own service worker, scoped to /console/: it shows alerts and
    caches nothing, so no patient's record is ever kept in the browser's storage."""
    return FileResponse(
        FRONTEND_DIR / "static" / "js" / "console-sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


@router.post("/console/push", response_model=None)
def push_on(
    request: Request,
    subscription: PushSubscriptionCreate,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> Response:
    """Red-flag alerts to this browser too, not only by e-mail."""
    require_public_endpoint(subscription, settings)
    audit(session, request, user, now, "nurse.push-on", "nurse", user.nurse.id)
    subscribe_nurse(session, user.nurse.id, subscription, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/console/push/off", response_model=None)
def push_off(
    request: Request,
    body: PushOff,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
) -> Response:
    audit(session, request, user, now, "nurse.push-off", "nurse", user.nurse.id)
    unsubscribe_nurse(session, user.nurse.id, body.endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
