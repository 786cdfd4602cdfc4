import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlmodel import select

from aftercare.accounts.deps import CurrentNurse
from aftercare.accounts.models import Clinic
from aftercare.api_errors import NOT_FOUND, SIGNED_IN, TOO_OFTEN
from aftercare.deps import NowDep, SessionDep, SettingsDep
from aftercare.i18n import _
from aftercare.inbound import RowId
from aftercare.patients.deps import (
    ANONYMISED,
    CurrentPatient,
    CurrentPatientAndClinic,
    own_patient,
    still_in_care,
)
from aftercare.patients.models import Patient
from aftercare.reminders import service
from aftercare.reminders.calendar import CalendarItem, calendar_feed
from aftercare.reminders.endpoint_check import require_public_endpoint
from aftercare.reminders.outbox import APPOINTMENT_KEY
from aftercare.reminders.schemas import (
    Accepted,
    CalendarPublic,
    InAppReminderList,
    MePublic,
    PushKeyPublic,
    PushSubscriptionCreate,
)

router = APIRouter(tags=["reminders"])


@router.get("/api/v1/push/key")
def push_key(request: Request) -> PushKeyPublic:
    """The server's VAPID public key, for `pushManager.subscribe` (no sign-in needed)."""
    return PushKeyPublic(public_key=request.app.state.vapid.get().public_key)


@router.post(
    "/api/v1/me/push-subscriptions", status_code=status.HTTP_201_CREATED, responses=SIGNED_IN
)
def add_push_subscription(
    subscription: PushSubscriptionCreate,
    session: SessionDep,
    patient: CurrentPatient,
    now: NowDep,
    settings: SettingsDep,
) -> MePublic:
    """Keep this phone's subscription; its endpoint must be https on a public address."""
    require_public_endpoint(subscription, settings)
    service.subscribe(session, patient, subscription, now)
    return service.me_public(patient)


@router.post(
    "/api/v1/me/test-notification",
    status_code=status.HTTP_202_ACCEPTED,
    responses=SIGNED_IN | TOO_OFTEN,
)
def test_notification(session: SessionDep, patient: CurrentPatient, now: NowDep) -> Accepted:
    """A neutral test message through the patient's channels, within one dispatch interval."""
    channels = service.queue_test(session, patient, now, "patient", patient.id)
    return Accepted(channels=channels)


@router.post(
    "/api/v1/patients/{patient_id}/test-reminder",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["patients (nurses)"],
    responses=SIGNED_IN | NOT_FOUND | TOO_OFTEN | ANONYMISED,
)
def test_reminder(
    patient_id: uuid.UUID, session: SessionDep, nurse: CurrentNurse, now: NowDep
) -> Accepted:
    patient = still_in_care(own_patient(session, nurse, patient_id))
    channels = service.queue_test(session, patient, now, "nurse", nurse.id)
    return Accepted(channels=channels, patient_id=patient.id)


@router.get("/api/v1/me/reminders", responses=SIGNED_IN)
def my_reminders(
    session: SessionDep, found: CurrentPatientAndClinic, settings: SettingsDep
) -> InAppReminderList:
    """Reminders shown in the app and not yet seen, newest first."""
    patient, clinic = found
    return InAppReminderList(
        items=service.in_app(session, patient, clinic.app_name, settings.base_url)
    )


@router.post(
    "/api/v1/me/reminders/{reminder_id}/seen",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=SIGNED_IN | NOT_FOUND,
)
def reminder_seen(
    reminder_id: RowId, session: SessionDep, patient: CurrentPatient, now: NowDep
) -> Response:
    if not service.mark_seen(session, patient, reminder_id, now):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_("Not found"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/v1/me/calendar", responses=SIGNED_IN)
def my_calendar(patient: CurrentPatient, settings: SettingsDep) -> CalendarPublic:
    """The private calendar feed's address; whoever has it can read the feed's neutral events."""
    return CalendarPublic(
        url=f"{settings.base_url.rstrip('/')}/calendar/{patient.calendar_token}.ics"
    )


@router.get("/calendar/{token}.ics", include_in_schema=False)
def calendar(token: str, session: SessionDep, now: NowDep) -> Response:
    patient = session.exec(select(Patient).where(Patient.calendar_token == token)).first()
    if patient is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_("Not found"))
    clinic = session.get(Clinic, patient.clinic_id)
    items = [
        CalendarItem(
            key=row.key,
            kind=row.kind,
            date=row.date,
            local_time=row.local_time or "00:00",
            due_at=row.due_at,
        )
        for row in service.timed_items(session, patient)
        if row.due_at is not None and row.local_time is not None
    ]
    if patient.followup_at is not None:
        # One UID however often the visit moves, so the phone's calendar moves it too.
        visit = patient.followup_at.astimezone(ZoneInfo(patient.timezone))
        items.append(
            CalendarItem(
                key=APPOINTMENT_KEY,
                kind="appointment",
                date=visit.date(),
                local_time=visit.strftime("%H:%M"),
                due_at=patient.followup_at,
            )
        )
    body = calendar_feed(
        items,
        patient.timezone,
        patient.language,
        clinic.app_name if clinic else "Care",
        str(patient.id),
        now,
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": f"private, max-age={int(timedelta(hours=1).total_seconds())}"},
    )
