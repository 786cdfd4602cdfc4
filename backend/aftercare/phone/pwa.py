"""What makes the patient app installable: the manifest, the service worker, an offline page."""

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from aftercare.accounts.models import DEFAULT_EMERGENCY_NUMBER
from aftercare.deps import NowDep, SessionDep, SettingsDep
from aftercare.phone.shell import DEFAULT_APP_NAME, render, signed_in, templates
from aftercare.settings import FRONTEND_DIR
from aftercare.web import browser_language, page_context

router = APIRouter(include_in_schema=False)


@router.get("/manifest.webmanifest")
def manifest(request: Request, session: SessionDep, now: NowDep) -> JSONResponse:
    """The installed app's name is the clinic's neutral one: a home screen shows nothing more."""
    found = signed_in(request, session, now)
    name = found[1].app_name if found else DEFAULT_APP_NAME
    body = {
        "name": name,
        "short_name": name,
        "start_url": "/today",
        "scope": "/",
        "display": "standalone",
        "background_color": "#fbfcfd",
        "theme_color": "#3d6f8f",
        "icons": [
            {"src": "/static/icons/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/static/icons/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/static/icons/maskable-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return JSONResponse(
        body, media_type="application/manifest+json", headers={"Cache-Control": "no-cache"}
    )


@router.get("/sw.js")
def service_worker() -> FileResponse:
    # Served from the root so that its scope covers the whole app.
    return FileResponse(
        FRONTEND_DIR / "static" / "js" / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/offline", response_class=HTMLResponse)
def offline(request: Request) -> HTMLResponse:
    context = page_context(request, browser_language(request), app_name=DEFAULT_APP_NAME)
    return templates.TemplateResponse(request, "patient/offline.html", context)


@router.get("/saved", response_class=HTMLResponse)
def saved(
    request: Request, session: SessionDep, settings: SettingsDep, now: NowDep
) -> HTMLResponse:
    """Shown by the service worker when an answer is kept on the phone until it is online.

    Fetched ahead for a signed-in phone, in the patient's language and with the
    clinic's numbers, so that an offline check-in is answered with call buttons.
    """
    found = signed_in(request, session, now)
    if found is None:
        context = page_context(request, browser_language(request), app_name=DEFAULT_APP_NAME)
        context.update(clinic_phone=None, emergency_number=DEFAULT_EMERGENCY_NUMBER)
    else:
        patient, clinic = found
        context = page_context(
            request, patient.language, app_name=clinic.app_name,
            clinic_phone=clinic.phone, emergency_number=clinic.emergency_number,
        )  # fmt: skip
    return render(request, settings, "patient/saved.html", context)
