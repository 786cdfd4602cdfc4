"""Which patient a phone belongs to, from its device token, as a route's dependency."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, status
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from aftercare.accounts.deps import TokenDep, unauthorised
from aftercare.accounts.models import AccessToken, Clinic, Nurse
from aftercare.accounts.security import token_digest
from aftercare.api_errors import Responses, error
from aftercare.deps import NowDep, SessionDep
from aftercare.i18n import _
from aftercare.patients.models import Patient
from aftercare.patients.service import clinic_patient

# Built once: every patient request runs it, and building it costs more than the read.
_PATIENT_BY_TOKEN = (
    select(Patient, Clinic)
    .join(AccessToken, col(AccessToken.patient_id) == Patient.id)
    .join(Clinic, col(Clinic.id) == Patient.clinic_id)
    .where(
        AccessToken.token_hash == bindparam("token_hash"),
        col(AccessToken.revoked_at).is_(None),
        col(AccessToken.expires_at) > bindparam("now"),
    )
)


def patient_by_token(session: Session, token: str, now: datetime) -> tuple[Patient, Clinic] | None:
    row = session.exec(
        _PATIENT_BY_TOKEN, params={"token_hash": token_digest(token), "now": now}
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


def own_patient(session: Session, nurse: Nurse, patient_id: uuid.UUID | str) -> Patient:
    """A patient of the nurse's own clinic, for the API and the console alike: a malformed
    id, an unknown one and another clinic's patient are the same 404, as if none existed."""
    try:
        wanted = patient_id if isinstance(patient_id, uuid.UUID) else uuid.UUID(patient_id)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_("Not found")) from None
    patient = clinic_patient(session, nurse, wanted)
    if patient is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_("Not found"))
    return patient


ANONYMISED: Responses = {409: error("The patient's data was anonymised: nothing can be added")}


def still_in_care(patient: Patient) -> Patient:
    """A patient anonymised after the clinic's retention time takes nothing new: no
    message, no new code (a phone would sign in again), no new plan."""
    if patient.anonymised_at is not None:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=_("This patient's data was anonymised: nothing can be added to it."),
        )
    return patient
