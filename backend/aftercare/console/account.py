"""A nurse's own account: alerts on this computer, and signing out everywhere."""

from typing import Annotated

from fastapi import APIRouter, Header, Request, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from aftercare.console.web import ConsoleDep, audit, render
from aftercare.deps import NowDep, SessionDep, SettingsDep
from aftercare.reminders.endpoint_check import require_public_endpoint
from aftercare.reminders.schemas import PushSubscriptionCreate
from aftercare.reminders.service import subscribe_nurse, unsubscribe_nurse
from aftercare.settings import FRONTEND_DIR
from aftercare.web import check_csrf

router = APIRouter(include_in_schema=False)


class PushOff(BaseModel):
    endpoint: str = Field(min_length=1, max_length=2000)


@router.get("/console/account", response_model=None)
def account_page(request: Request, user: ConsoleDep) -> Response:
    return render(request, user, "console/account.html")


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
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Response:
    """Red-flag alerts to this browser too, not only by e-mail."""
    check_csrf(request, x_csrf_token)
    require_public_endpoint(subscription, settings)
    audit(session, request, user, now, "nurse.push-on", "nurse", user.nurse.id)
    subscribe_nurse(session, user.nurse.id, subscription, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/console/push/off", response_model=None)
def push_off(
    request: Request,
    body: PushOff,
    user: ConsoleDep,
    session: SessionDep,
    now: NowDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Response:
    check_csrf(request, x_csrf_token)
    audit(session, request, user, now, "nurse.push-off", "nurse", user.nurse.id)
    unsubscribe_nurse(session, user.nurse.id, body.endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
