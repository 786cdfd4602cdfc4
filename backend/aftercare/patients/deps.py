"""Which patient a phone belongs to, from its device token, as a route's dependency."""

from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session, col, select

from aftercare.accounts.deps import TokenDep, unauthorised
from aftercare.accounts.models import AccessToken, Clinic
from aftercare.accounts.security import token_digest
from aftercare.deps import NowDep, SessionDep
from aftercare.patients.models import Patient


def patient_by_token(session: Session, token: str, now: datetime) -> tuple[Patient, Clinic] | None:
    row = session.exec(
        select(Patient, Clinic)
        .join(AccessToken, col(AccessToken.patient_id) == Patient.id)
        .join(Clinic, col(Clinic.id) == Patient.clinic_id)
        .where(
            AccessToken.token_hash == token_digest(token),
            col(AccessToken.revoked_at).is_(None),
            col(AccessToken.expires_at) > now,
        )
    ).first()
    return (row[0], row[1]) if row else None


def current_patient_and_clinic(
    session: SessionDep, token: TokenDep, now: NowDep
) -> tuple[Patient, Clinic]:
    """The device's patient and their clinic, in one query: this is on every patient request."""
    found = patient_by_token(session, token, now) if token else None
    if found is None:
        raise unauthorised()
    return found


async def current_patient(
    found: Annotated[tuple[Patient, Clinic], Depends(current_patient_and_clinic)],
) -> Patient:
    return found[0]


CurrentPatient = Annotated[Patient, Depends(current_patient)]
CurrentPatientAndClinic = Annotated[tuple[Patient, Clinic], Depends(current_patient_and_clinic)]
