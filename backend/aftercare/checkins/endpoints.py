import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from aftercare.accounts.deps import CurrentNurse, TokenDep
from aftercare.api_errors import NOT_FOUND, SIGNED_IN, error, invalid_field
from aftercare.audit.service import record_api_read
from aftercare.checkins import service
from aftercare.checkins.schemas import CheckInAnswer, CheckInCreate, CheckInList
from aftercare.deps import ClientDep, NowDep, SessionDep, WriterDep
from aftercare.inbound import Offset
from aftercare.patients.deps import CurrentPatient, own_patient
from aftercare.protocols.deps import ProtocolsDep

router = APIRouter(prefix="/api/v1", tags=["check-ins"], responses=SIGNED_IN)
Limit = Annotated[int, Query(ge=1, le=500)]


@router.post(
    "/me/checkins",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": CheckInAnswer,
              "description": "The same check-in again: the same answer, stored once"},
        409: error("This id was used for a different check-in"),
    },
)  # fmt: skip
async def submit_checkin(
    body: CheckInCreate,
    writer: WriterDep,
    response: Response,
    token: TokenDep,
    protocols: ProtocolsDep,
    now: NowDep,
) -> CheckInAnswer:
    """Send a check-in; the answer (reassurance, advice or urgent help) comes back at once.

    The whole check-in, token included, is one write job (see `aftercare.writer`).
    """
    outcome = await writer.submit(partial(service.receive, token=token, body=body,
                                          protocols=protocols, now=now))  # fmt: skip
    if isinstance(outcome, service.Refused):
        if outcome.field:
            raise invalid_field(
                outcome.field, outcome.detail, body.model_dump(mode="json")[outcome.field]
            )
        headers = {"WWW-Authenticate": "Bearer"} if outcome.status == 401 else None
        raise HTTPException(status_code=outcome.status, detail=outcome.detail, headers=headers)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    return outcome.answer


@router.get("/me/checkins")
def my_checkins(
    session: SessionDep, patient: CurrentPatient, limit: Limit = 100, offset: Offset = 0
) -> CheckInList:
    """The patient's check-ins, newest first."""
    return CheckInList(items=service.history(session, patient, limit, offset))


@router.get("/patients/{patient_id}/checkins", tags=["patients (nurses)"], responses=NOT_FOUND)
def patient_checkins(
    patient_id: uuid.UUID,
    session: SessionDep,
    nurse: CurrentNurse,
    now: NowDep,
    client: ClientDep,
    limit: Limit = 100,
    offset: Offset = 0,
) -> CheckInList:
    patient = own_patient(session, nurse, patient_id)
    listed = CheckInList(items=service.history(session, patient, limit, offset))
    record_api_read(session, now, nurse, "patient", patient.id, "check-ins", client)
    return listed
