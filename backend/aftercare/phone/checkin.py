"""The check-in on the phone: the form, its answer page, and the patient's history.

Every page works without JavaScript. A check-in sent from the form is answered
by a redirect to its answer page (`/checkins/{id}`), so Back never sends it
again and the answer can be opened again from History. The service worker
replays a check-in made offline with `Accept: application/json` and gets the
answer as JSON.
"""

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from aftercare.accounts.models import Clinic
from aftercare.checkins.answers import answer_of, mark_seen
from aftercare.checkins.chart import PainPoint, pain_chart
from aftercare.checkins.schemas import CheckInCreate
from aftercare.checkins.service import Refused, receive
from aftercare.checkins.service import history as checkin_history
from aftercare.checkins.triage import patient_triage
from aftercare.checkins.triage_endpoints import NO_STORE, patient_protocol
from aftercare.deps import NowDep, SessionDep, SettingsDep, WriterDep
from aftercare.i18n import _, gettext_for
from aftercare.patients.deps import patient_by_token
from aftercare.patients.models import Patient
from aftercare.phone.shell import PhoneDep, render, to_landing
from aftercare.protocols.deps import ProtocolsDep
from aftercare.settings import Settings
from aftercare.web import SESSION_COOKIE, CsrfChecked, page_context

router = APIRouter(include_in_schema=False)


def _checkin_form(
    request: Request,
    settings: Settings,
    patient: Patient,
    app_name: str,
    form: dict[str, str],
    errors: dict[str, str],
) -> HTMLResponse:
    context = page_context(
        request, patient.language, app_name=app_name, form=form, errors=errors,
        # Without JavaScript the id and time are drawn here; the page's script
        # draws both again when Send is pressed, so each answer is its own.
        checkin_id=form.get("id") or str(uuid.uuid4()),
        recorded_at=form.get("recorded_at") or datetime.now(UTC).isoformat(),
    )  # fmt: skip
    code = status.HTTP_422_UNPROCESSABLE_CONTENT if errors else status.HTTP_200_OK
    return render(request, settings, "patient/checkin.html", context, code)


@router.get("/checkin", response_model=None)
def checkin_page(request: Request, phone: PhoneDep, settings: SettingsDep) -> Response:
    """The check-in as a plain form: it works without JavaScript."""
    patient, clinic = phone
    return _checkin_form(request, settings, patient, clinic.app_name, {}, {})


def _body_of(form: dict[str, str], now: datetime) -> dict[str, object]:
    return {
        "id": form.get("id"),
        "recorded_at": form.get("recorded_at") or now.isoformat(),
        "pain": int(form["pain"]) if form.get("pain", "").isdigit() else None,
        "temperature_c": float(form["temperature_c"])
        if _is_number(form.get("temperature_c"))
        else None,
        "bleeding": form.get("bleeding"),
        "discharge": form.get("discharge"),
        "urination": form.get("urination"),
        "allergy": form.get("allergy"),
        "nausea": form.get("nausea") == "true",
        "wants_contact": form.get("wants_contact") == "true",
        "note": form.get("note", ""),
    }


@router.post("/checkin", response_model=None)
async def checkin_submit(
    _csrf: CsrfChecked,
    request: Request,
    writer: WriterDep,
    protocols: ProtocolsDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    form = {key: str(value) for key, value in (await request.form()).items()}
    replayed = "application/json" in request.headers.get("accept", "")
    token = request.cookies.get(SESSION_COOKIE)
    found = await writer.submit(partial(_patient_and_clinic, token=token, now=now))
    if found is None:
        return to_landing()
    patient, clinic = found
    try:
        checkin = CheckInCreate.model_validate(_body_of(form, now))
    except ValidationError as exc:
        errors = {str(error["loc"][0]): error["msg"] for error in exc.errors()}
        if form.get("temperature_c") and not _is_number(form.get("temperature_c")):
            errors["temperature_c"] = "not a number"
        if replayed:
            fields = sorted(errors)
            return JSONResponse({"detail": fields}, status.HTTP_422_UNPROCESSABLE_CONTENT)
        return _checkin_form(request, settings, patient, clinic.app_name, form, errors)
    receive_job = partial(receive, token=token, protocols=protocols, now=now)
    outcome = await writer.submit(partial(receive_job, body=checkin))
    if isinstance(outcome, Refused) and outcome.status == status.HTTP_409_CONFLICT:
        # The id came with other answers: an old copy of the form, sent again.
        # These answers are a check-in of their own; their id comes from both,
        # so that sending them again still stores them once.
        renamed = checkin.model_copy(
            update={"id": uuid.uuid5(checkin.id, checkin.model_dump_json())}
        )
        outcome = await writer.submit(partial(receive_job, body=renamed))
    if isinstance(outcome, Refused):
        if replayed:
            return JSONResponse({"detail": outcome.detail}, outcome.status)
        return _checkin_form(
            request, settings, patient, clinic.app_name, form, {"form": outcome.detail}
        )
    if replayed:
        code = status.HTTP_201_CREATED if outcome.created else status.HTTP_200_OK
        return JSONResponse(outcome.answer.model_dump(mode="json"), code)
    return RedirectResponse(f"/checkins/{outcome.answer.id}", status.HTTP_303_SEE_OTHER)


def _is_number(text: str | None) -> bool:
    try:
        return text is not None and text.strip() != "" and float(text) == float(text)
    except ValueError:
        return False


def _patient_and_clinic(
    db: Session, token: str | None, now: datetime
) -> tuple[Patient, Clinic] | None:
    found = patient_by_token(db, token, now) if token else None
    if found is None:
        return None
    patient, clinic = found
    db.expunge(patient)
    db.expunge(clinic)
    return patient, clinic


@router.get("/checkins/{checkin_id}", response_model=None)
def answer_page(
    checkin_id: uuid.UUID,
    request: Request,
    phone: PhoneDep,
    session: SessionDep,
    settings: SettingsDep,
    protocols: ProtocolsDep,
    now: NowDep,
) -> Response:
    """One check-in's answer, advice and time, as the patient was answered."""
    patient, clinic = phone
    shown = answer_of(session, patient, checkin_id, protocols.get(patient.protocol_id))
    if shown is None:
        context = page_context(request, patient.language, app_name=clinic.app_name)
        return render(request, settings, "patient/not_found.html", context, 404)
    if "prefetch" not in (request.headers.get("purpose") or ""):
        mark_seen(session, patient, checkin_id, now)
    context = page_context(
        request, patient.language, app_name=clinic.app_name, shown=shown,
        clinic_phone=clinic.phone, emergency_number=clinic.emergency_number,
    )  # fmt: skip
    return render(request, settings, "patient/checkin_answer.html", context)


@router.post("/checkins/{checkin_id}/seen", response_model=None)
def answer_seen(
    checkin_id: uuid.UUID,
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    now: NowDep,
) -> Response:
    """The patient has read an answer that Today was keeping for them."""
    patient, _clinic = phone
    mark_seen(session, patient, checkin_id, now)
    return RedirectResponse("/today", status.HTTP_303_SEE_OTHER)


@router.get("/history", response_model=None)
def history_page(
    request: Request, phone: PhoneDep, session: SessionDep, settings: SettingsDep
) -> Response:
    patient, clinic = phone
    checkins = checkin_history(session, patient, limit=200, offset=0)
    # One point a day: the latest answer of that day.
    latest: dict[int, int] = {}
    for checkin in reversed(checkins):
        if checkin.pain is not None:
            latest[checkin.day] = checkin.pain
    translate = gettext_for(patient.language).gettext
    summary = ", ".join(
        translate(_("Day %(day)s: %(pain)s")) % {"day": day, "pain": pain}
        for day, pain in sorted(latest.items())
    )
    title = translate(_("Pain by day")) + (": " + summary if summary else "")
    context = page_context(
        request,
        patient.language,
        app_name=clinic.app_name,
        checkins=checkins,
        chart=pain_chart([PainPoint(d, p) for d, p in latest.items()], patient.plan_days, title),
    )
    return render(request, settings, "patient/history.html", context)


@router.get("/checkin/rules.json", include_in_schema=False)
def phone_rules(
    phone: PhoneDep, session: SessionDep, protocols: ProtocolsDep, response: Response
) -> dict[str, Any]:
    """The signed-in phone's document; the service worker keeps its own copy."""
    patient, clinic = phone
    response.headers.update(NO_STORE)
    return patient_triage(session, patient, clinic, patient_protocol(protocols, patient))
