from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from aftercare.accounts import service, signin
from aftercare.accounts.schemas import TokenPublic
from aftercare.api_errors import TOO_LARGE, TOO_OFTEN, UNAVAILABLE, error
from aftercare.deps import ClientDep, NowDep, SessionDep, SettingsDep
from aftercare.i18n import _

router = APIRouter(prefix="/api/v1", tags=["authentication"])


@router.post(
    "/auth/token",
    responses={
        401: error("Wrong e-mail or password", {"WWW-Authenticate": "Bearer"}),
        **TOO_LARGE,
        **TOO_OFTEN,
        **UNAVAILABLE,
    },
)
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    client: ClientDep,
) -> TokenPublic:
    """A nurse's bearer token (OAuth2 password flow: `username` is the e-mail)."""
    try:
        nurse = signin.sign_in(session, settings, form.username, form.password, client, now, "api")
    except signin.SignInRefused as refused:
        if refused.retry_after is not None:
            raise HTTPException(
                status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                detail=_("Too many attempts. Please wait a few minutes and try again."),
                headers={"Retry-After": str(refused.retry_after)},
            ) from None
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=_("Wrong e-mail or password"),
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    token = service.issue_token(
        session, now, timedelta(hours=settings.nurse_token_hours), nurse_id=nurse.id
    )
    return TokenPublic(access_token=token)
