from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from aftercare.accounts import service, throttle
from aftercare.accounts.schemas import TokenPublic
from aftercare.deps import ClientDep, NowDep, SessionDep, SettingsDep
from aftercare.i18n import _

router = APIRouter(prefix="/api/v1", tags=["authentication"])


def too_many_attempts(window: timedelta) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        detail=_("Too many attempts. Please wait a few minutes and try again."),
        headers={"Retry-After": str(int(window.total_seconds()))},
    )


@router.post("/auth/token")
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    client: ClientDep,
) -> TokenPublic:
    """A nurse's bearer token (OAuth2 password flow: `username` is the e-mail)."""
    window = timedelta(minutes=settings.auth_failure_window_minutes)
    if throttle.is_throttled(session, "sign-in", client, now, settings.max_auth_failures, window):
        raise too_many_attempts(window)
    nurse = service.authenticate_nurse(session, form.username, form.password)
    if nurse is None:
        throttle.record_failure(session, "sign-in", client, now, window)
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=_("Wrong e-mail or password"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = service.issue_token(
        session, now, timedelta(hours=settings.nurse_token_hours), nurse_id=nurse.id
    )
    session.commit()
    return TokenPublic(access_token=token)
