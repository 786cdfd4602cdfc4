"""The patient's flag rules as data (see `aftercare.checkins.triage`), for the API; the
phone's own copy is `aftercare.phone.checkin`'s /checkin/rules.json."""

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from aftercare.api_errors import SIGNED_IN
from aftercare.checkins.triage import patient_triage
from aftercare.deps import SessionDep
from aftercare.i18n import _
from aftercare.patients.deps import CurrentPatientAndClinic
from aftercare.patients.models import Patient
from aftercare.protocols.deps import ProtocolsDep
from aftercare.protocols.loader import Protocol

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def patient_protocol(protocols: dict[str, Protocol], patient: Patient) -> Protocol:
    protocol = protocols.get(patient.protocol_id)
    if protocol is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            _("The clinic's procedure file is missing; please call the clinic."),
        )
    return protocol


@router.get("/api/v1/me/triage", tags=["check-ins"], responses=SIGNED_IN)
def my_triage(
    found: CurrentPatientAndClinic, session: SessionDep, protocols: ProtocolsDep, response: Response
) -> dict[str, Any]:
    """The patient's flag rules as data, to judge a check-in without a connection.

    For the patient's own device: the enabled rules of their procedure with each
    condition (`when`), message and advice in the patient's language (the
    clinic's numbers already in the advice; `{value}` and `{previous}` left in
    messages), the tap-to-call buttons each advice names (`calls`), the
    reassurance, the fields shown with one decimal, the clinic's numbers, the
    time zone and date of Day 1, and the answers of the latest check-in
    (`previous`, for rising-pain rules) or null. `version` changes whenever any
    of it does. A check-in sent to the server is still judged there; the
    phone's judgement is for answering at once, offline included.
    """
    patient, clinic = found
    response.headers.update(NO_STORE)
    return patient_triage(session, patient, clinic, patient_protocol(protocols, patient))
