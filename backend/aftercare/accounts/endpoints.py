from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from aftercare.accounts import service
from aftercare.accounts.schemas import TokenPublic
from aftercare.accounts.throttle import Attempts
from aftercare.deps import ClientDep, NowDep, SessionDep, SettingsDep
from aftercare.i18n import _

router = APIRouter(prefix="/api/v1", tags=["authentication"])


@router.post("/auth/token")
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    client: ClientDep,
) -> TokenPublic:
    """A nurse's bearer token (OAuth2 password flow: `username` is the e-mail)."""
    attempts = Attempts(session, settings, "sign-in", client, now)
    if attempts.blocked:
        raise attempts.too_many()
    nurse = service.authenticate_nurse(session, form.username, form.password)
    if nurse is None:
        attempts.failed()
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
