"""Too many failed sign-ins or enrolment attempts from one client: 429 for a while; and
actions that send something out (test notifications, messages) kept to a human pace."""

from datetime import datetime, timedelta

from fastapi import HTTPException, status
from sqlmodel import Session, col, delete, func, select

from aftercare.accounts.models import AuthFailure
from aftercare.i18n import _
from aftercare.settings import Settings


class Attempts:
    """The failed attempts of one client at one door (sign-in, enrolment).

    Kept in the database, so that several app processes count together.
    """

    def __init__(
        self, session: Session, settings: Settings, scope: str, client: str, now: datetime
    ) -> None:
        self.session = session
        self.scope = scope
        self.client = client[:100]
        self.now = now
        self.limit = settings.max_auth_failures
        self.window = timedelta(minutes=settings.auth_failure_window_minutes)

    @property
    def blocked(self) -> bool:
        count = self.session.exec(
            select(func.count())
            .select_from(AuthFailure)
            .where(
                AuthFailure.scope == self.scope,
                AuthFailure.client == self.client,
                col(AuthFailure.created_at) > self.now - self.window,
            )
        ).one()
        return count >= self.limit

    def failed(self) -> None:
        # Rows outside the window count no more; prune them as we go.
        self.session.exec(
            delete(AuthFailure).where(col(AuthFailure.created_at) < self.now - self.window)
        )
        self.session.add(AuthFailure(scope=self.scope, client=self.client, created_at=self.now))
        self.session.commit()

    def too_many(self) -> HTTPException:
        return HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=_("Too many attempts. Please wait a few minutes and try again."),
            headers={"Retry-After": str(int(self.window.total_seconds()))},
        )


class TooOften(Exception):
    """An action repeated faster than a person would; the route answers 429."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("too often")
        self.retry_after = max(1, int(retry_after.total_seconds()))


def at_human_pace(done_since: int, limit: int, window: timedelta) -> None:
    """Refuse the next one once `limit` were done within `window`."""
    if done_since >= limit:
        raise TooOften(window)
