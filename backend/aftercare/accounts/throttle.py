"""Too many failed sign-ins or enrolment attempts from one client: 429 for a while."""

from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, func, select

from aftercare.accounts.models import AuthFailure


def is_throttled(
    session: Session, scope: str, client: str, now: datetime, limit: int, window: timedelta
) -> bool:
    count = session.exec(
        select(func.count())
        .select_from(AuthFailure)
        .where(
            AuthFailure.scope == scope,
            AuthFailure.client == client,
            col(AuthFailure.created_at) > now - window,
        )
    ).one()
    return count >= limit


def record_failure(
    session: Session, scope: str, client: str, now: datetime, window: timedelta
) -> None:
    # Old rows are of no use once outside the window; prune them as we go.
    session.exec(delete(AuthFailure).where(col(AuthFailure.created_at) < now - window))
    session.add(AuthFailure(scope=scope, client=client[:100], created_at=now))
    session.commit()
