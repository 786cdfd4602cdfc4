import uuid
from functools import partial
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from aftercare.accounts.deps import CurrentNurse, bearer
from aftercare.api_errors import NOT_FOUND, SIGNED_IN, error, invalid_field
from aftercare.audit.service import record_api_read
from aftercare.checkins import service
from aftercare.checkins.schemas import CheckInAnswer, CheckInCreate, CheckInList
from aftercare.deps import ClientDep, NowDep, SessionDep, clock, writer_of
from aftercare.inbound import Offset
from aftercare.patients.deps import CurrentPatient, own_patient
from aftercare.protocols.deps import protocols_of

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
    # The bearer token is read in the route (below); the description still says it.
    openapi_extra={"security": [{bearer.scheme_name: []}]},
    response_model=CheckInAnswer,
)  # fmt: skip
async def submit_checkin(body: CheckInCreate, request: Request) -> Response:
    """Send a check-in; the answer (reassurance, advice or urgent help) comes back at once.

    The whole check-in, token included, is one write job (see `aftercare.writer`).
    """
    # The hottest route reads its door off the request instead of declaring the writer,
    # token, procedures and clock as dependencies: FastAPI's solving of those four cost
    # 75 µs of a check-in's 830 (bench/checkins.py). They are the same functions.
    job = partial(service.receive, token=await bearer(request), body=body,
                  protocols=protocols_of(request), now=clock())  # fmt: skip
    outcome = await writer_of(request).submit(job)
    if isinstance(outcome, service.Refused):
        if outcome.field:
            raise invalid_field(
                outcome.field, outcome.detail, body.model_dump(mode="json")[outcome.field]
            )
        headers = {"WWW-Authenticate": "Bearer"} if outcome.status == 401 else None
        raise HTTPException(status_code=outcome.status, detail=outcome.detail, headers=headers)
    # The answer as JSON at once: FastAPI would check the model it was built as again.
    return Response(
        outcome.answer.model_dump_json(),
        status_code=status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK,
        media_type="application/json",
    )


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
