"""Clinics, nurses and bearer tokens."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from aftercare.accounts.models import AccessToken, Clinic, Nurse
from aftercare.accounts.security import hash_password, new_token, token_digest, verify_password


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_or_create_clinic(session: Session, slug: str, name: str | None = None) -> Clinic:
    clinic = session.exec(select(Clinic).where(Clinic.slug == slug)).first()
    if clinic is None:
        clinic = Clinic(slug=slug, name=name or slug.replace("-", " ").title())
        session.add(clinic)
        session.flush()
    return clinic


class NurseExists(Exception):
    pass


def create_nurse(
    session: Session, email: str, password: str, clinic: Clinic, is_admin: bool = False
) -> Nurse:
    email = normalise_email(email)
    if session.exec(select(Nurse).where(Nurse.email == email)).first() is not None:
        raise NurseExists(email)
    nurse = Nurse(
        email=email, password_hash=hash_password(password), clinic_id=clinic.id, is_admin=is_admin
    )
    session.add(nurse)
    session.flush()
    return nurse


def authenticate_nurse(session: Session, email: str, password: str) -> Nurse | None:
    nurse = session.exec(select(Nurse).where(Nurse.email == normalise_email(email))).first()
    valid = verify_password(nurse.password_hash if nurse else None, password)
    if nurse is None or not valid or not nurse.is_active:
        return None
    return nurse


def issue_token(
    session: Session,
    now: datetime,
    lifetime: timedelta,
    *,
    nurse_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    kind: str | None = None,
) -> str:
    token = new_token()
    session.add(
        AccessToken(
            token_hash=token_digest(token),
            nurse_id=nurse_id,
            patient_id=patient_id,
            created_at=now,
            expires_at=now + lifetime,
            kind=kind or ("device" if patient_id else "api"),
            last_used_at=now,
        )
    )
    return token


@dataclass(frozen=True)
class TokenOwner:
    nurse_id: uuid.UUID | None
    patient_id: uuid.UUID | None


def token_owner(session: Session, token: str, now: datetime) -> TokenOwner | None:
    row = session.exec(
        select(AccessToken).where(AccessToken.token_hash == token_digest(token))
    ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    # A console's cookie is no bearer token: it lives only as long as the console is in use.
    if row.kind == "console":
        return None
    return TokenOwner(nurse_id=row.nurse_id, patient_id=row.patient_id)
