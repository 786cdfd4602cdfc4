"""Who is calling the API: a nurse's bearer token, as a route's dependency."""

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from aftercare.accounts.models import Nurse
from aftercare.accounts.service import token_owner
from aftercare.deps import NowDep, SessionDep
from aftercare.i18n import _

bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
TokenDep = Annotated[str | None, Depends(bearer)]


def unauthorised() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=_("Not authenticated"),
        headers={"WWW-Authenticate": "Bearer"},
    )


def current_nurse(session: SessionDep, token: TokenDep, now: NowDep) -> Nurse:
    owner = token_owner(session, token, now) if token else None
    nurse = session.get(Nurse, owner.nurse_id) if owner and owner.nurse_id else None
    if nurse is None or not nurse.is_active:
        raise unauthorised()
    return nurse


CurrentNurse = Annotated[Nurse, Depends(current_nurse)]
