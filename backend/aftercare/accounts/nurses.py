"""Managing a clinic's nurses: add, disable, enable, reset a password.

Shared by the admin pages of the console and by the `aftercare nurse` command,
so that both revoke sessions, unlock accounts and leave the same audit trail.
"""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from aftercare.accounts.models import Clinic, Nurse
from aftercare.accounts.security import hash_password
from aftercare.accounts.service import NurseExists, create_nurse, normalise_email
from aftercare.accounts.sessions import close_every_session
from aftercare.accounts.signin import unlock
from aftercare.audit.service import record
from aftercare.i18n import _

MIN_PASSWORD = 12
MAX_PASSWORD = 1000
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class Actor:
    """Who makes the change, for the audit trail: an admin in the console, or the command line."""

    kind: str  # "nurse" or "system"
    id: uuid.UUID | None
    client: str


class NurseProblem(Exception):
    """A change refused; `field` names the form field, `message` says why (to be translated)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return _("The password must have at least 12 characters.")
    if len(password) > MAX_PASSWORD:
        return _("The password is too long.")
    return None


def clinic_nurses(session: Session, clinic_id: uuid.UUID) -> list[Nurse]:
    """The clinic's nurses, in the order they were added."""
    return list(
        session.exec(
            select(Nurse)
            .where(col(Nurse.clinic_id) == clinic_id)
            .order_by(col(Nurse.created_at), col(Nurse.email))
        ).all()
    )


def nurse_of_clinic(session: Session, clinic_id: uuid.UUID, nurse_id: str) -> Nurse | None:
    """The clinic's nurse with this id; None for another clinic's or a malformed id."""
    try:
        wanted = uuid.UUID(nurse_id)
    except ValueError:
        return None
    nurse = session.get(Nurse, wanted)
    return nurse if nurse is not None and nurse.clinic_id == clinic_id else None


def nurse_by_email(session: Session, email: str) -> Nurse | None:
    return session.exec(select(Nurse).where(Nurse.email == normalise_email(email))).first()


def _record(session: Session, now: datetime, actor: Actor, nurse: Nurse, action: str,
            **detail: object) -> None:  # fmt: skip
    record(session, now, nurse.clinic_id, actor.kind, actor.id, action, "nurse", nurse.id,
           client=actor.client, email=nurse.email, **detail)  # fmt: skip


def add_nurse(
    session: Session,
    clinic: Clinic,
    email: str,
    password: str,
    is_admin: bool,
    now: datetime,
    actor: Actor,
) -> Nurse:
    """Create a nurse in the clinic and commit; NurseProblem names the field when refused."""
    if not EMAIL.fullmatch(email.strip()) or len(email.strip()) > 254:
        raise NurseProblem("email", _("Give an e-mail address, like name@clinic.example."))
    if problem := password_problem(password):
        raise NurseProblem("password", problem)
    try:
        nurse = create_nurse(session, email, password, clinic, is_admin)
    except NurseExists:
        raise NurseProblem("email", _("A nurse with this e-mail address already exists.")) from None
    _record(session, now, actor, nurse, "nurse.created", admin=is_admin)
    session.flush()
    return nurse


def set_active(session: Session, nurse: Nurse, active: bool, now: datetime, actor: Actor) -> None:
    """Disable (signing the nurse out everywhere at once) or enable an account, and commit."""
    if not active and actor.kind == "nurse" and actor.id == nurse.id:
        raise NurseProblem("nurse", _("You cannot disable your own account."))
    nurse.is_active = active
    session.add(nurse)
    _record(session, now, actor, nurse, "nurse.disabled" if not active else "nurse.enabled")
    if active:
        session.flush()
    else:
        # Commits the change and the audit row together with the revocation.
        close_every_session(session, nurse.id, now)


def reset_password(
    session: Session, nurse: Nurse, password: str, now: datetime, actor: Actor
) -> None:
    """Set a new password, sign the nurse out everywhere and lift a lockout; the caller commits."""
    if problem := password_problem(password):
        raise NurseProblem("password", problem)
    nurse.password_hash = hash_password(password)
    session.add(nurse)
    unlock(session, nurse.email)
    _record(session, now, actor, nurse, "nurse.password-reset")
    close_every_session(session, nurse.id, now)
