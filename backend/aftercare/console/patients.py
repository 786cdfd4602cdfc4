"""The clinic's patients in the console: the list, one patient's page, and its actions."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from aftercare.accounts.sessions import ConsoleUser
from aftercare.audit.service import record
from aftercare.care.service import reissue_code, reschedule_job
from aftercare.checkins.service import mark_seen_by_clinic
from aftercare.console.enrol import LANGUAGE_NAMES, show_enrolment, zone_names
from aftercare.console.patient_forms import (
    ContactForm,
    FieldErrors,
    FollowupForm,
    SurgeryForm,
    contact_change,
    errors_of,
    followup_change,
    surgery_change,
)
from aftercare.console.patient_view import patient_facts, patient_list
from aftercare.console.web import ConsoleDep, audit, console_language, render
from aftercare.deps import NowDep, SessionDep, SettingsDep, WriterDep, client_of
from aftercare.flags.service import OUTCOMES
from aftercare.i18n import gettext_for
from aftercare.inbound import Inbound
from aftercare.patients.deps import own_patient, still_in_care
from aftercare.patients.models import Patient
from aftercare.patients.schemas import PatientUpdate
from aftercare.protocols.deps import ProtocolsDep
from aftercare.protocols.loader import Protocol
from aftercare.reminders.service import queue_test
from aftercare.web import CsrfChecked
from aftercare.writer import Writer

router = APIRouter(include_in_schema=False)

# What the page says after an action (`?done=`); anything else is ignored.
DONE = frozenset(
    {
        "test-reminder",
        "surgery-moved",
        "already-enrolled",
        "contact-saved",
        "followup-saved",
        "followup-cancelled",
    }
)


def _back(patient: Patient, done: str) -> RedirectResponse:
    return RedirectResponse(
        f"/console/patients/{patient.id}?done={done}", status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/console/patients", response_model=None)
def patients_page(
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    protocols: ProtocolsDep,
    now: NowDep,
    q: str = "",
    page: str = "1",
) -> Response:
    """The clinic's patients, newest surgery first, 50 a page, searchable by alias."""
    number = int(page) if page.isdigit() and 0 < int(page) <= 100_000 else 1
    listing = patient_list(
        session, user.clinic.id, protocols, console_language(request, user), now, q[:40], number
    )
    return render(request, user, "console/patients.html", listing=listing, q=q[:40])


def _patient_page(
    request: Request,
    user: ConsoleUser,
    session: Session,
    protocols: dict[str, Protocol],
    now: datetime,
    patient: Patient,
    done: str = "",
    sent: tuple[str, Inbound, FieldErrors] | None = None,
) -> Response:
    """Render the page, then record the view: whoever saw the record is in the audit trail.

    `sent` is a form that could not be saved (its name, as typed, and what is wrong):
    it is shown again with its errors, and the other forms with what is stored."""
    facts = patient_facts(session, patient, protocols, console_language(request, user), now)
    local = facts.surgery_at
    visit = patient.followup_at.astimezone(local.tzinfo) if patient.followup_at else None
    forms: dict[str, Inbound] = {
        "surgery": SurgeryForm(
            surgery_date=local.date().isoformat(), surgery_time=local.strftime("%H:%M"),
            timezone=patient.timezone,
        ),
        "contact": ContactForm(
            phone=patient.phone or "", phone_best_time=patient.phone_best_time or "",
            phone_safe_to_call="on" if patient.phone_safe_to_call else None,
            phone_leave_message="on" if patient.phone_leave_message else None,
        ),
        "followup": FollowupForm(
            followup_date=visit.date().isoformat() if visit else "",
            followup_time=visit.strftime("%H:%M") if visit else "",
            followup_place=patient.followup_place or "",
        ),
    }  # fmt: skip
    errors: dict[str, FieldErrors] = {name: {} for name in forms}
    if sent is not None:
        name, forms[name], errors[name] = sent
    response = render(
        request, user, "console/patient.html",
        status.HTTP_422_UNPROCESSABLE_CONTENT if sent else status.HTTP_200_OK,
        facts=facts, done=done if done in DONE else "", outcomes=OUTCOMES,
        language_name=LANGUAGE_NAMES.get(patient.language, patient.language),
        clinic_zone=ZoneInfo(user.clinic.timezone), zones=zone_names(),
        **{f"{name}_form": form for name, form in forms.items()},
        **{f"{name}_errors": problems for name, problems in errors.items()},
    )  # fmt: skip
    audit(session, request, user, now, "patient.viewed", "patient", patient.id)
    # The check-ins on the page were seen: the patient's phone will say so.
    mark_seen_by_clinic(session, [checkin.id for checkin in facts.timeline], now)
    return response


@router.get("/console/patients/{patient_id}", response_model=None)
def patient_page(
    patient_id: str,
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    protocols: ProtocolsDep,
    now: NowDep,
    done: str = "",
) -> Response:
    """One patient at a glance; every view is audited."""
    patient = own_patient(session, user.nurse, patient_id)
    return _patient_page(request, user, session, protocols, now, patient, done)


@router.post("/console/patients/{patient_id}/test-reminder", response_model=None)
def send_test_reminder(
    patient_id: str,
    request: Request,
    *,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """A neutral test message through the patient's channels, due at once."""
    patient = still_in_care(own_patient(session, user.nurse, patient_id))
    # queue_test records the reminder; this row adds where the nurse asked from.
    audit(session, request, user, now, "patient.test-reminder", "patient", patient.id)
    queue_test(session, patient, now, "nurse", user.nurse.id)
    return _back(patient, "test-reminder")


@dataclass
class _PatientForm:
    """A form posted from a patient's page: saved as `PATCH /api/v1/patients/{id}` saves
    it, or the page again with what is wrong, in the nurse's language."""

    request: Request
    user: ConsoleUser
    session: Session
    writer: Writer
    protocols: dict[str, Protocol]
    now: datetime
    patient: Patient
    name: str
    form: Inbound

    @property
    def translate(self) -> Callable[[str], str]:
        return gettext_for(console_language(self.request, self.user)).gettext

    def again(self, errors: FieldErrors) -> Response:
        return _patient_page(self.request, self.user, self.session, self.protocols, self.now,
                             self.patient, "", (self.name, self.form, errors))  # fmt: skip

    def save(self, changes: PatientUpdate, action: str, done: str, **detail: object) -> Response:
        """Audit the change and make it in one transaction; a rule the service checks
        (the visit after the surgery) comes back as a field error, nothing changed."""
        # Read now: the job runs on the writer's thread, where these rows are not to be read.
        clinic_id, nurse_id, patient_id = self.user.clinic.id, self.user.nurse.id, self.patient.id
        client = client_of(self.request)

        def audited(db: Session) -> None:
            record(db, self.now, clinic_id, "nurse", nurse_id, action, "patient", patient_id,
                   client=client, **detail)  # fmt: skip

        try:
            reschedule_job(self.session, self.writer, self.patient, changes, self.protocols,
                           self.now, audit=audited)  # fmt: skip
        except RequestValidationError as error:
            return self.again(errors_of(error, self.translate))
        return _back(self.patient, done)


def _posted(
    request: Request, user: ConsoleUser, session: Session, writer: Writer,
    protocols: dict[str, Protocol], now: datetime, patient_id: str, name: str, form: Inbound,
) -> _PatientForm:  # fmt: skip
    patient = still_in_care(own_patient(session, user.nurse, patient_id))
    return _PatientForm(request, user, session, writer, protocols, now, patient, name, form)


@router.post("/console/patients/{patient_id}/surgery", response_model=None)
def move_surgery(
    patient_id: str,
    request: Request,
    form: Annotated[SurgeryForm, Form()],
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
) -> Response:
    """Move the surgery as `PATCH /api/v1/patients/{id}` does: the plan and reminders follow."""
    page = _posted(request, user, session, writer, protocols, now, patient_id, "surgery", form)
    changes, errors = surgery_change(form, page.translate)
    if changes is None:
        return page.again(errors)
    patient = page.patient
    return page.save(changes, "patient.surgery-moved", "surgery-moved",
                     before=patient.surgery_at.isoformat(), timezone_before=patient.timezone,
                     after=changes.surgery_at.isoformat() if changes.surgery_at else None,
                     timezone=changes.timezone)  # fmt: skip


@router.post("/console/patients/{patient_id}/contact", response_model=None)
def change_contact(
    patient_id: str,
    request: Request,
    form: Annotated[ContactForm, Form()],
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
) -> Response:
    """The phone number and how it may be used, as `PATCH /api/v1/patients/{id}` takes them."""
    page = _posted(request, user, session, writer, protocols, now, patient_id, "contact", form)
    changes, errors = contact_change(form, page.translate)
    if changes is None:
        return page.again(errors)
    # Which fields, never their values: the audit log keeps no contact details.
    return page.save(changes, "patient.contact-changed", "contact-saved",
                     phone="set" if changes.phone else "removed")  # fmt: skip


@router.post("/console/patients/{patient_id}/followup", response_model=None)
def change_followup(
    patient_id: str,
    request: Request,
    form: Annotated[FollowupForm, Form()],
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
) -> Response:
    """Book, move or cancel the follow-up visit, as `PATCH /api/v1/patients/{id}` does: the
    reminder the day before and the calendar event follow."""
    page = _posted(request, user, session, writer, protocols, now, patient_id, "followup", form)
    changes, errors = followup_change(form, page.patient.timezone, page.translate)
    if changes is None:
        return page.again(errors)
    before, after = page.patient.followup_at, changes.followup_at
    # The moment, never the place: the audit log keeps no more than it needs.
    return page.save(changes, "patient.followup-changed",
                     "followup-saved" if after else "followup-cancelled",
                     before=before.isoformat() if before else None,
                     after=after.isoformat() if after else None)  # fmt: skip


@router.post("/console/patients/{patient_id}/code", response_model=None)
def new_code(
    patient_id: str,
    request: Request,
    *,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """A new enrolment code while no phone is enrolled; the old code stops working."""
    patient = still_in_care(own_patient(session, user.nurse, patient_id))
    if patient.enrolled_at is not None:
        return _back(patient, "already-enrolled")
    audit(session, request, user, now, "patient.code-reissued", "patient", patient.id)
    alias, patient_key = patient.alias, patient.id
    enrollment = reissue_code(session, patient, now, settings)
    return show_enrolment(request, user, patient_key, alias, enrollment, reissued=True)
