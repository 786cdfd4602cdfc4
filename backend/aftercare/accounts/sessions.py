"""Nurses' console sessions: a cookie that signs itself out after inactivity."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from aftercare.accounts.models import AccessToken, Clinic, Nurse
from aftercare.accounts.security import token_digest
from aftercare.accounts.service import issue_token

# Writing the time of every click would make each page a write; a minute is precise enough.
TOUCH_EVERY = timedelta(seconds=60)
CONSOLE_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class ConsoleUser:
    """The nurse behind a console cookie, with their clinic."""

    nurse: Nurse
    clinic: Clinic
    token_id: int

    @property
    def is_admin(self) -> bool:
        return self.nurse.is_admin


def open_session(session: Session, nurse: Nurse, now: datetime) -> str:
    token = issue_token(session, now, CONSOLE_LIFETIME, nurse_id=nurse.id, kind="console")
    session.flush()
    return token


def console_user(
    session: Session, token: str, now: datetime, touch: bool = True
) -> ConsoleUser | bool | None:
    """The signed-in nurse; False when the session ended for inactivity; None when there is none.

    `touch=False` for what a page does by itself (the live queue): it is no activity.
    """
    row = session.exec(
        select(AccessToken, Nurse, Clinic)
        .join(Nurse, col(Nurse.id) == AccessToken.nurse_id)
        .join(Clinic, col(Clinic.id) == Nurse.clinic_id)
        .where(
            AccessToken.token_hash == token_digest(token),
            AccessToken.kind == "console",
            col(AccessToken.revoked_at).is_(None),
            col(AccessToken.expires_at) > now,
        )
    ).first()
    if row is None:
        return None
    access, nurse, clinic = row
    if not nurse.is_active:
        return None
    last = access.last_used_at or access.created_at
    if now - last > timedelta(minutes=clinic.session_timeout_minutes):
        access.revoked_at = now
        session.add(access)
        session.commit()
        return False
    if touch and now - last > TOUCH_EVERY:
        access.last_used_at = now
        session.add(access)
        session.flush()
    assert access.id is not None
    return ConsoleUser(nurse=nurse, clinic=clinic, token_id=access.id)


def close_session(session: Session, token_id: int, now: datetime) -> None:
    session.exec(update(AccessToken).where(col(AccessToken.id) == token_id).values(revoked_at=now))
    session.flush()


def close_every_session(session: Session, nurse_id: uuid.UUID, now: datetime) -> int:
    """Sign a nurse out everywhere: every console and every API token."""
    result = session.exec(
        update(AccessToken)
        .where(col(AccessToken.nurse_id) == nurse_id, col(AccessToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.flush()
    return int(result.rowcount or 0)
