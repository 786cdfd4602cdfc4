import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from aftercare.checkins import service
from aftercare.checkins.schemas import CheckInAnswer, CheckInCreate, CheckInList
from aftercare.deps import (
    CurrentNurse,
    CurrentPatient,
    CurrentPatientAndClinic,
    NowDep,
    ProtocolsDep,
    SessionDep,
)
from aftercare.i18n import _
from aftercare.patients.endpoints import own_patient
from aftercare.writer import Writer

router = APIRouter(prefix="/api/v1", tags=["check-ins"])
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


@router.post(
    "/me/checkins",
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "The same check-in again: the same answer, stored once"},
               409: {"description": "This id was used for a different check-in"}},
)  # fmt: skip
def submit_checkin(
    body: CheckInCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    found: CurrentPatientAndClinic,
    protocols: ProtocolsDep,
    now: NowDep,
) -> CheckInAnswer:
    """Send a check-in; the answer (reassurance, advice or urgent help) comes back at once."""
    patient, clinic = found
    writer: Writer = request.app.state.writer
    protocol = protocols.get(patient.protocol_id)
    if protocol is None:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=_("The clinic's procedure file is missing; please call the clinic."),
        )
    try:
        received = service.receive(session, writer, patient, clinic, protocol, body, now)
    except service.CheckInConflict:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=_("This id was already used for a different check-in"),
        ) from None
    if not received.created:
        response.status_code = status.HTTP_200_OK
    return received.answer


@router.get("/me/checkins")
def my_checkins(
    session: SessionDep, patient: CurrentPatient, limit: Limit = 100, offset: Offset = 0
) -> CheckInList:
    """The patient's check-ins, newest first."""
    return CheckInList(items=service.history(session, patient, limit, offset))


@router.get("/patients/{patient_id}/checkins", tags=["patients (nurses)"])
def patient_checkins(
    patient_id: uuid.UUID,
    session: SessionDep,
    nurse: CurrentNurse,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CheckInList:
    patient = own_patient(session, nurse, patient_id)
    return CheckInList(items=service.history(session, patient, limit, offset))
