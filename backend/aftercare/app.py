"""The web application: the JSON API under /api/v1 and, later, the pages."""

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from aftercare import __version__
from aftercare.accounts.endpoints import router as accounts_router
from aftercare.db import make_engine
from aftercare.health import router as health_router
from aftercare.patients.endpoints import nurse_router, patient_router
from aftercare.patients.pages import router as patient_pages
from aftercare.protocols.endpoints import router as protocols_router
from aftercare.protocols.loader import load_protocols
from aftercare.settings import FRONTEND_DIR, Settings, get_settings

SECURITY_HEADERS = {
    # Nothing about the app may travel to another site, not even its URL.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """Build the app; procedure files are checked now so a bad edit fails at start, clearly."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Aftercare API",
        version=__version__,
        # The interactive docs would load scripts from a CDN: no third-party requests.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine or make_engine(settings.database_url)
    app.state.protocols = load_protocols(settings.schedules_dir)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.include_router(health_router)
    app.include_router(accounts_router)
    app.include_router(protocols_router)
    app.include_router(nurse_router)
    app.include_router(patient_router)
    app.include_router(patient_pages)
    app.mount("/static", StaticFiles(directory=FRONTEND_DIR / "static"), name="static")
    return app
