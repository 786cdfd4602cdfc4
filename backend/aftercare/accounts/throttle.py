"""Too many failed sign-ins or enrolment attempts from one client: 429 for a while; and
actions that send something out (test notifications, messages) kept to a human pace."""

import math
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException, status
from sqlmodel import Session, col, delete, select

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

    def retry_after(self) -> int | None:
        """Seconds until this client may try again; None while it may."""
        times = self.session.exec(
            select(AuthFailure.created_at)
            .where(
                AuthFailure.scope == self.scope,
                AuthFailure.client == self.client,
                col(AuthFailure.created_at) > self.now - self.window,
            )
            .order_by(col(AuthFailure.created_at))
        ).all()
        if len(times) < self.limit:
            return None
        # Once this one leaves the window, fewer than `limit` remain.
        frees_at = _aware(times[len(times) - self.limit]) + self.window
        return max(1, math.ceil((frees_at - self.now).total_seconds()))

    @property
    def blocked(self) -> bool:
        return self.retry_after() is not None

    def failed(self) -> None:
        # Rows outside the window count no more; prune them as we go.
        self.session.exec(
            delete(AuthFailure).where(col(AuthFailure.created_at) < self.now - self.window)
        )
        self.session.add(AuthFailure(scope=self.scope, client=self.client, created_at=self.now))
        self.session.commit()

    def too_many(self, retry_after: int | None = None) -> HTTPException:
        wait = retry_after or self.retry_after() or int(self.window.total_seconds())
        return HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=_("Too many attempts. Please wait a few minutes and try again."),
            headers={"Retry-After": str(wait)},
        )


def _aware(moment: datetime) -> datetime:
    # SQLite gives back naive times; every time stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class TooOften(Exception):
    """An action repeated faster than a person would; the route answers 429."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("too often")
        self.retry_after = max(1, int(retry_after.total_seconds()))


def at_human_pace(done_since: int, limit: int, window: timedelta) -> None:
    """Refuse the next one once `limit` were done within `window`."""
    if done_since >= limit:
        raise TooOften(window)
