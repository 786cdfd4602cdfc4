"""Enrolling a patient from the console, and handing over the code, link and QR."""

import uuid
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from markupsafe import Markup

from aftercare.accounts.sessions import ConsoleUser
from aftercare.care import service as care
from aftercare.console.patient_forms import (
    EnrolForm,
    FieldErrors,
    enrolment_body,
    errors_of,
    filled_rows,
    renumber,
)
from aftercare.console.web import ConsoleDep, console_language, render
from aftercare.deps import NowDep, SessionDep, SettingsDep, WriterDep, client_of
from aftercare.i18n import SUPPORTED_LANGUAGES, _, gettext_for
from aftercare.patients.qr import qr_svg
from aftercare.patients.schemas import EnrollmentPublic
from aftercare.protocols.deps import ProtocolsDep
from aftercare.protocols.loader import Protocol
from aftercare.web import CsrfChecked

router = APIRouter(include_in_schema=False)

# Each language named in itself: the nurse picks the one the patient reads.
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية", "tr": "Türkçe"}


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """Every IANA zone, sorted, for the searchable list under the time zone field."""
    return sorted(available_timezones())


def procedure_choices(protocols: dict[str, Protocol], language: str) -> list[dict[str, Any]]:
    """The loaded procedures by name in the reader's language, with their default hours."""
    return sorted(
        (
            {
                "id": protocol.id,
                "name": protocol.name(language),
                "wake_time": protocol.spec.defaults.wake_time.strftime("%H:%M"),
                "sleep_time": protocol.spec.defaults.sleep_time.strftime("%H:%M"),
            }
            for protocol in protocols.values()
        ),
        key=lambda choice: str(choice["name"]).casefold(),
    )


def handover(enrollment: EnrollmentPublic, language: str) -> Markup:
    """The enrolment link as an inline SVG QR code (the XML prologue has no place in HTML)."""
    title = gettext_for(language).gettext(_("Enrolment link as a QR code"))
    svg = qr_svg(enrollment.enrollment_url, title)
    return Markup(svg[svg.index("<svg") :])  # noqa: S704 - segno's own output, no user text


def show_enrolment(
    request: Request,
    user: ConsoleUser,
    patient_id: uuid.UUID,
    alias: str,
    enrollment: EnrollmentPublic,
    reissued: bool = False,
) -> Response:
    """The page a nurse prints or shows: the code, the link and the QR, once."""
    return render(
        request, user, "console/enrolled.html",
        patient_id=patient_id, alias=alias, enrollment=enrollment, reissued=reissued,
        qr=handover(enrollment, console_language(request, user)),
    )  # fmt: skip


def _form_page(
    request: Request,
    user: ConsoleUser,
    protocols: dict[str, Protocol],
    form: EnrolForm,
    errors: FieldErrors | None = None,
) -> Response:
    errors = errors or {}
    return render(
        request, user, "console/enrol.html",
        status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK,
        form=form, rows=form.rows(), errors=errors, zones=zone_names(),
        procedures=procedure_choices(protocols, console_language(request, user)),
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in SUPPORTED_LANGUAGES],
    )  # fmt: skip


@router.get("/console/enrol", response_model=None)
def enrol_page(request: Request, user: ConsoleDep, protocols: ProtocolsDep) -> Response:
    """An empty enrolment form: the clinic's zone, the first procedure's hours."""
    choices = procedure_choices(protocols, console_language(request, user))
    first = choices[0] if choices else {"id": "", "wake_time": "", "sleep_time": ""}
    form = EnrolForm(
        protocol=first["id"],
        timezone=user.clinic.timezone,
        language=console_language(request, user),
        wake_time=first["wake_time"],
        sleep_time=first["sleep_time"],
        item_reminder=[str(row) for row in range(3)],
    )
    return _form_page(request, user, protocols, form)


@router.post("/console/enrol", response_model=None)
def enrol(
    request: Request,
    form: Annotated[EnrolForm, Form()],
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    """Enrol through the same schema and service as `POST /api/v1/patients`."""
    translate = gettext_for(console_language(request, user)).gettext
    body, errors = enrolment_body(form, translate)
    if body is None:
        return _form_page(request, user, protocols, form, errors)
    # The audit row is in the enrolment's transaction: the patient is never stored unrecorded.
    detail = {"client": client_of(request), "protocol": body.protocol,
              "prescribed": len(body.prescribed)}  # fmt: skip
    try:
        enrollment = care.enrol(
            session, writer, user.nurse, body, protocols, settings, now, audit=detail
        )
    except RequestValidationError as error:
        errors = renumber(errors_of(error, translate), filled_rows(form))
        return _form_page(request, user, protocols, form, errors)
    return show_enrolment(request, user, enrollment.id, body.alias, enrollment)
