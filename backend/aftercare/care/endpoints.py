import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel

from aftercare.accounts.deps import CurrentNurse
from aftercare.accounts.throttle import Attempts
from aftercare.api_errors import (
    NOT_FOUND,
    SIGNED_IN,
    TOO_LARGE,
    TOO_OFTEN,
    UNAVAILABLE,
    Responses,
    error,
)
from aftercare.audit.service import record_api_read
from aftercare.care import service
from aftercare.checkins.service import checkin_days
from aftercare.deps import ClientDep, NowDep, SessionDep, SettingsDep, WriterDep
from aftercare.i18n import _
from aftercare.inbound import Offset
from aftercare.patients.deps import ANONYMISED, CurrentPatient, own_patient, still_in_care
from aftercare.patients.schemas import (
    EnrollmentPublic,
    EnrollRequest,
    EnrollTokenPublic,
    PatientCreate,
    PatientList,
    PatientPublic,
    PatientUpdate,
)
from aftercare.patients.service import clinic_patients, spend_code
from aftercare.plans.schemas import PlanPublic
from aftercare.plans.service import plan_of, set_done
from aftercare.protocols.deps import ProtocolsDep
from aftercare.reminders.schemas import MePublic, MeUpdate

nurse_router = APIRouter(prefix="/api/v1/patients", tags=["patients (nurses)"], responses=SIGNED_IN)
# The patient's own settings keep the tag they were published under.
settings_router = APIRouter(tags=["reminders"])
patient_router = APIRouter(prefix="/api/v1", tags=["patients (the patient's device)"])


@nurse_router.post("", status_code=status.HTTP_201_CREATED)
def enrol_patient(
    body: PatientCreate,
    session: SessionDep,
    writer: WriterDep,
    nurse: CurrentNurse,
    protocols: ProtocolsDep,
    settings: SettingsDep,
    now: NowDep,
) -> EnrollmentPublic:
    """Enrol a patient: the plan is frozen now, and a one-time code is returned to hand over."""
    return service.enrol(session, writer, nurse, body, protocols, settings, now)


@nurse_router.get("")
def list_patients(
    session: SessionDep,
    nurse: CurrentNurse,
    now: NowDep,
    client: ClientDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Offset = 0,
) -> PatientList:
    """The clinic's patients, newest first."""
    patients = clinic_patients(session, nurse, limit, offset)
    listed = PatientList(items=service.to_public_many(session, patients, now))
    record_api_read(session, now, nurse, "patients", nurse.clinic_id, "list", client)
    return listed


@nurse_router.get("/{patient_id}", responses=NOT_FOUND)
def read_patient(
    patient_id: uuid.UUID, session: SessionDep, nurse: CurrentNurse, now: NowDep, client: ClientDep
) -> PatientPublic:
    patient = own_patient(session, nurse, patient_id)
    public = service.to_public(session, patient, now)
    record_api_read(session, now, nurse, "patient", patient.id, "record", client)
    return public


@nurse_router.patch("/{patient_id}", responses=NOT_FOUND | ANONYMISED)
def update_patient(
    patient_id: uuid.UUID,
    changes: PatientUpdate,
    session: SessionDep,
    writer: WriterDep,
    nurse: CurrentNurse,
    protocols: ProtocolsDep,
    now: NowDep,
) -> PatientPublic:
    """Move the surgery time or change the zone or hours; the plan is rebuilt."""
    patient = still_in_care(own_patient(session, nurse, patient_id))
    service.reschedule_job(session, writer, patient, changes, protocols, now)
    return service.to_public(session, patient, now)


@nurse_router.get("/{patient_id}/plan", responses=NOT_FOUND)
def read_patient_plan(
    patient_id: uuid.UUID, session: SessionDep, nurse: CurrentNurse, now: NowDep, client: ClientDep
) -> PlanPublic:
    patient = own_patient(session, nurse, patient_id)
    plan = plan_of(session, patient, checkin_days(session, patient.id))
    record_api_read(session, now, nurse, "patient", patient.id, "plan", client)
    return plan


CODE_REFUSED: Responses = {400: error("The code is unknown, used or expired")}


@patient_router.post("/enroll", responses=CODE_REFUSED | TOO_LARGE | TOO_OFTEN | UNAVAILABLE)
def enrol_device(
    body: EnrollRequest,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    client: ClientDep,
) -> EnrollTokenPublic:
    """Spend a one-time enrolment code for this device's bearer token."""
    attempts = Attempts(session, settings, "enrol", client, now)
    wait = attempts.retry_after()
    if wait:
        raise attempts.too_many(wait)
    spent = spend_code(session, body.code, now, settings)
    if spent is None:
        attempts.failed()
        raise HTTPException(
            status_code=status.HTTP_400_BAD_REQUEST,
            detail=_(
                "This code does not work. It may have been used or have expired: "
                "please ask the clinic for a new one."
            ),
        )
    patient_id, token = spent
    return EnrollTokenPublic(access_token=token, patient_id=patient_id)


@patient_router.get("/me/plan", responses=SIGNED_IN)
def read_my_plan(session: SessionDep, patient: CurrentPatient) -> PlanPublic:
    return plan_of(session, patient, checkin_days(session, patient.id))


class ItemDone(BaseModel):
    id: str
    done: bool


TICKED_BY_CHECKING_IN: Responses = {
    409: error(
        "Reading matter, a milestone or the check-in (done by checking in) "
        "is not ticked off by hand"
    )
}


def _ticked(ticked: bool | None) -> None:
    if ticked is None:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=_("This item is not ticked off by hand"),
        )
    if not ticked:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_("Not found"))


@patient_router.put(
    "/me/plan/items/{item_id}/done",
    responses=SIGNED_IN | NOT_FOUND | TICKED_BY_CHECKING_IN,
)
def tick_item(item_id: str, session: SessionDep, patient: CurrentPatient, now: NowDep) -> ItemDone:
    """Tick a plan item off; doing it again changes nothing."""
    _ticked(set_done(session, patient, item_id, True, now))
    return ItemDone(id=item_id, done=True)


@patient_router.delete(
    "/me/plan/items/{item_id}/done",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=SIGNED_IN | NOT_FOUND | TICKED_BY_CHECKING_IN,
)
def untick_item(
    item_id: str, session: SessionDep, patient: CurrentPatient, now: NowDep
) -> Response:
    _ticked(set_done(session, patient, item_id, False, now))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@settings_router.patch("/api/v1/me", responses=SIGNED_IN)
def update_me(
    changes: MeUpdate,
    session: SessionDep,
    writer: WriterDep,
    patient: CurrentPatient,
    protocols: ProtocolsDep,
    now: NowDep,
) -> MePublic:
    """Change e-mail, channels, language or waking hours; waiting reminders follow at once."""
    return service.update_me(session, writer, patient, changes, now, protocols)
