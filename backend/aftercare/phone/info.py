"""Warning signs, and the patient's own data: download it, or erase it."""

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from aftercare.deps import NowDep, SessionDep, SettingsDep
from aftercare.phone.shell import DEFAULT_APP_NAME, PhoneDep, own_page, render
from aftercare.plans.engine import in_language
from aftercare.privacy.service import erase_patient, export_bundle
from aftercare.protocols.deps import ProtocolsDep
from aftercare.web import SESSION_COOKIE, CsrfChecked, page_context

router = APIRouter(include_in_schema=False)
WARNING_SIGNS_ITEM = "warning-signs"


@router.get("/warning-signs", response_model=None)
def warning_signs(
    request: Request,
    phone: PhoneDep,
    settings: SettingsDep,
    protocols: ProtocolsDep,
) -> Response:
    """What is normal, what is not, whom to call: from today's procedure file.

    Like the flag rules, and unlike the plan, this is not frozen at enrolment:
    safety information is always the clinic's latest.
    """
    patient, clinic = phone
    protocol = protocols.get(patient.protocol_id)
    normal = not_normal = None
    if protocol is not None:
        spec = protocol.spec
        normal = in_language(spec.normal, patient.language) if spec.normal else None
        item = next((i for i in spec.items if i.id == WARNING_SIGNS_ITEM), None)
        if item is not None:
            not_normal = in_language(item.detail or item.title, patient.language)
    context = page_context(
        request, patient.language, app_name=clinic.app_name, normal=normal,
        not_normal=not_normal, clinic_phone=clinic.phone,
        emergency_number=clinic.emergency_number,
    )  # fmt: skip
    return render(request, settings, "patient/warning_signs.html", context)


@router.get("/privacy", response_model=None)
def privacy(request: Request, phone: PhoneDep, settings: SettingsDep) -> Response:
    return own_page(request, phone, settings, "patient/privacy.html")


@router.get("/privacy/export", response_model=None)
def privacy_export(request: Request, phone: PhoneDep, session: SessionDep, now: NowDep) -> Response:
    """The same FHIR bundle as GET /api/v1/me/export, for the signed-in phone."""
    patient, clinic = phone
    bundle = export_bundle(session, patient, clinic, now)
    return Response(
        json.dumps(bundle, ensure_ascii=False, indent=1),
        media_type="application/fhir+json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/privacy/delete", response_model=None)
def privacy_delete(request: Request, phone: PhoneDep, settings: SettingsDep) -> Response:
    """Ask once more: erasing cannot be undone."""
    return own_page(request, phone, settings, "patient/privacy_delete.html")


@router.post("/privacy/delete", response_model=None)
def privacy_delete_submit(
    request: Request,
    phone: PhoneDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> Response:
    patient, _clinic = phone
    language = patient.language
    erase_patient(session, patient, now)
    context = page_context(request, language, app_name=DEFAULT_APP_NAME)
    response = render(request, settings, "patient/privacy_deleted.html", context)
    response.delete_cookie(SESSION_COOKIE)
    # The phone forgets too: the pages kept for offline use, and anything waiting to be sent.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
