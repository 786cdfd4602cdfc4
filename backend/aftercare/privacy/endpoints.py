from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse

from aftercare.api_errors import SIGNED_IN
from aftercare.audit.service import record
from aftercare.deps import ClientDep, NowDep, SessionDep
from aftercare.patients.deps import CurrentPatient, CurrentPatientAndClinic
from aftercare.privacy import service

router = APIRouter(prefix="/api/v1", tags=["privacy (the patient's device)"], responses=SIGNED_IN)

FHIR_JSON = "application/fhir+json"
# Neutral: a downloaded file's name is seen in lists and previews.
EXPORT_FILE_NAME = "my-data.json"


@router.get(
    "/me/export",
    response_class=JSONResponse,
    responses={200: {"description": "A FHIR R4 Bundle", "content": {FHIR_JSON: {}}}},
)
def export_my_data(
    session: SessionDep, found: CurrentPatientAndClinic, now: NowDep, client: ClientDep
) -> Response:
    """A copy of everything kept about the patient, as a FHIR R4 `collection` Bundle."""
    patient, clinic = found
    bundle = service.export_bundle(session, patient, clinic, now)
    record(session, now, clinic.id, "patient", patient.id, "patient.exported", "patient",
           patient.id, client=client, via="api")  # fmt: skip
    return JSONResponse(
        bundle,
        media_type=FHIR_JSON,
        headers={"Content-Disposition": f'attachment; filename="{EXPORT_FILE_NAME}"'},
    )


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT)
def erase_me(session: SessionDep, patient: CurrentPatient, now: NowDep) -> Response:
    """Erase the patient's data for good; every device of theirs is signed out."""
    service.erase_patient(session, patient, now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
