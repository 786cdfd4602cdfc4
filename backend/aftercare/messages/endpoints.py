"""The thread over the JSON API: the nurse's side and the patient's side (`/me`)."""

import uuid

from fastapi import APIRouter, HTTPException, Response, status

from aftercare.accounts.deps import CurrentNurse
from aftercare.api_errors import NOT_FOUND, SIGNED_IN, TOO_OFTEN, error
from aftercare.deps import ClientDep, NowDep, SessionDep
from aftercare.i18n import _
from aftercare.messages import service
from aftercare.messages.schemas import (
    MessageCreate,
    MessageList,
    MessagePublic,
    PatientMessageCreate,
)
from aftercare.patients.deps import ANONYMISED, CurrentPatient, own_patient, still_in_care

router = APIRouter(prefix="/api/v1", tags=["messages"], responses=SIGNED_IN)


@router.get("/patients/{patient_id}/messages", responses=NOT_FOUND)
def patient_thread(
    patient_id: uuid.UUID, session: SessionDep, nurse: CurrentNurse, now: NowDep, client: ClientDep
) -> MessageList:
    """The patient's thread, oldest first; the patient's messages count as read from now on."""
    patient = own_patient(session, nurse, patient_id)
    entries = service.read_by_nurse(session, patient, nurse.id, now, client)
    return MessageList(items=[entry.public() for entry in entries])


@router.post(
    "/patients/{patient_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND | ANONYMISED | TOO_OFTEN,
)
def write_to_patient(
    patient_id: uuid.UUID,
    body: MessageCreate,
    session: SessionDep,
    nurse: CurrentNurse,
    now: NowDep,
    client: ClientDep,
) -> MessagePublic:
    """Send the patient a message; their phone is told only that a message is waiting."""
    patient = still_in_care(own_patient(session, nurse, patient_id))
    return service.send_by_nurse(session, patient, nurse.id, body.body, now, client).public()


@router.get("/me/messages")
def my_thread(session: SessionDep, patient: CurrentPatient, now: NowDep) -> MessageList:
    """The patient's thread with their clinic, oldest first; the nurses' messages are read."""
    entries = service.read_by_patient(session, patient, now)
    return MessageList(items=[entry.public() for entry in entries])


@router.post(
    "/me/messages",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": MessagePublic,
            "description": "The same message (same id and body) was already stored",
        },
        409: error("The id belongs to another message"),
        **TOO_OFTEN,
    },
)
def write_to_clinic(
    body: PatientMessageCreate,
    response: Response,
    session: SessionDep,
    patient: CurrentPatient,
    now: NowDep,
    client: ClientDep,
) -> MessagePublic:
    """Write to the clinic. An `id` made on the phone lets a reply sent twice be stored once."""
    sent = service.send_by_patient(session, patient, body, now, client)
    if sent is None:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail=_("This id belongs to another message")
        )
    if not sent.created:
        response.status_code = status.HTTP_200_OK
    return sent.entry.public()
