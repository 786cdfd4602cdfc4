"""A nurse signs in, at the console or for an API token: one lockout for both doors.

Failures are counted twice: per account, from any address (a guesser spreading over many
addresses is stopped, and a locked account gets nothing anywhere until the lock lifts or
an admin resets its password), and per address (one address guessing many accounts is
stopped; being blocked there blocks no one else, since the address is the client's own,
read through the trusted proxies only). Every sign-in and every failure is audited.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, delete, select

from aftercare.accounts.models import AuthFailure, Nurse
from aftercare.accounts.service import authenticate_nurse, normalise_email
from aftercare.accounts.throttle import Attempts
from aftercare.audit.service import record
from aftercare.settings import Settings

ACCOUNT = "account"
ADDRESS = "sign-in"


@dataclass
class SignInRefused(Exception):
    """`retry_after` is set when the account or the address is locked, else None."""

    retry_after: int | None = None


def sign_in(
    session: Session,
    settings: Settings,
    email: str,
    password: str,
    client: str,
    now: datetime,
    door: str,
) -> Nurse:
    """The nurse, or SignInRefused; a failure is stored (committed) before it is raised.

    `door` ("console" or "api") goes into the audit trail.
    """
    email = normalise_email(email)
    by_address = Attempts(session, settings, ADDRESS, client, now)
    by_account = Attempts(session, settings, ACCOUNT, email, now)
    wait = by_address.retry_after() or by_account.retry_after()
    if wait is not None:
        _audit_failure(session, email, client, now, door, "locked")
        session.commit()
        raise SignInRefused(wait)
    nurse = authenticate_nurse(session, email, password)
    if nurse is None:
        _audit_failure(session, email, client, now, door, "wrong-credentials")
        by_address.failed()  # commits, the audit row with it
        by_account.failed()
        raise SignInRefused(None)
    record(session, now, nurse.clinic_id, "nurse", nurse.id, "nurse.signed-in", "nurse",
           nurse.id, client=client, door=door)  # fmt: skip
    return nurse


def _audit_failure(
    session: Session, email: str, client: str, now: datetime, door: str, reason: str
) -> None:
    # An unknown address is recorded without it: a mistyped e-mail is still personal.
    nurse = session.exec(select(Nurse).where(Nurse.email == email)).first()
    record(session, now, nurse.clinic_id if nurse else None, "anonymous", None,
           "nurse.sign-in-failed", "nurse", nurse.id if nurse else "", client=client,
           door=door, reason=reason)  # fmt: skip


def unlock(session: Session, email: str) -> None:
    """Forget an account's failed sign-ins (an admin reset its password)."""
    session.exec(
        delete(AuthFailure).where(
            col(AuthFailure.scope) == ACCOUNT,
            col(AuthFailure.client) == normalise_email(email)[:100],
        )
    )
