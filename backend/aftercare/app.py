"""The web application: the JSON API under /api/v1 and the pages."""

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.types import Scope

from aftercare import __version__
from aftercare.accounts.endpoints import router as accounts_router
from aftercare.accounts.throttle import TooOften
from aftercare.care.endpoints import nurse_router, patient_router, settings_router
from aftercare.checkins.endpoints import router as checkins_router
from aftercare.checkins.service import checked_in_on
from aftercare.checkins.triage_endpoints import router as triage_router
from aftercare.console.account import router as console_account
from aftercare.console.audit import router as console_audit
from aftercare.console.clinic import router as console_clinic
from aftercare.console.enrol import router as console_enrol
from aftercare.console.messages import router as console_messages
from aftercare.console.pages import router as console_router
from aftercare.console.patients import router as console_patients
from aftercare.console.queue import router as console_queue
from aftercare.console.report import router as console_report
from aftercare.db import make_engine, session_factory
from aftercare.flags.endpoints import router as flags_router
from aftercare.guards import (
    SECURITY_HEADERS,
    Inbound,
    database_away,
    invalid_request,
    nested_too_deep,
    too_often,
    unexpected,
)
from aftercare.health import router as health_router
from aftercare.logs import AccessLog, Headers
from aftercare.messages.endpoints import router as messages_api
from aftercare.phone.checkin import router as checkin_pages
from aftercare.phone.info import router as info_pages
from aftercare.phone.messages import router as messages_pages
from aftercare.phone.pages import router as patient_pages
from aftercare.phone.pages import today_router as today_page
from aftercare.phone.pwa import router as pwa_router
from aftercare.phone.settings import router as settings_pages
from aftercare.privacy.endpoints import router as privacy_router
from aftercare.protocols.endpoints import router as protocols_router
from aftercare.protocols.loader import load_protocols
from aftercare.reminders import metrics
from aftercare.reminders.endpoints import router as reminders_router
from aftercare.reminders.runtime import LazyVapid, make_dispatcher
from aftercare.reports.endpoints import router as reports_router
from aftercare.scheduler import add_jobs
from aftercare.settings import FRONTEND_DIR, Settings, get_settings
from aftercare.writer import make_writer

ASSET_HEADERS = {b"referrer-policy", b"x-content-type-options"}
log = logging.getLogger(__name__)


class SecurityHeaders:
    """The headers every answer carries, unless its route set them itself; the access log
    adds them (`AccessLog`) as it adds the request's id, in one step of each answer."""

    def __init__(self) -> None:
        headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        # A style sheet, script or icon is not a document: a policy for documents (CSP,
        # framing, permissions) does nothing there and would cost every small file
        # about 350 bytes on a phone's slow first load.
        # Fresh for a few minutes: the service worker, installing right after the first
        # page, takes the files that page has just loaded instead of fetching them again.
        # After an upgrade a phone may keep an old file that long; the worker's shell
        # is what it serves from then on, renewed with each new worker version.
        self.for_assets = (
            *(header for header in headers if header[0] in ASSET_HEADERS),
            (b"cache-control", b"public, max-age=600"),
        )
        # Whatever a route does not say otherwise is kept by no cache: pages, feeds
        # and answers may hold personal data (a shared computer, a back button).
        self.for_documents = (*headers, (b"cache-control", b"no-store"))
        self.names = frozenset(name for name, _ in self.for_documents + self.for_assets)

    def __call__(self, scope: Scope, headers: Headers) -> list[tuple[bytes, bytes]]:
        extra = self.for_assets if scope["path"].startswith("/static/") else self.for_documents
        present = {name.lower() for name, _ in headers}
        if present.isdisjoint(self.names):  # nearly always: the route set none of them
            return [*headers, *extra]
        return [*headers, *(header for header in extra if header[0] not in present)]


TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False, "metrics": False, "logs": False, "operation_spans": False,
    "auto_configure": False,
}  # fmt: skip


# What a router without start or stop handlers of its own holds.
_NO_LIFESPAN = type(APIRouter().lifespan_context)


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """The routers' routes, in this order, into the app's own table.

    `app.include_router` (FastAPI 0.165) keeps each router as a branch that every request
    walks twice, to match and again to run: 6% of a check-in's time on the event loop
    (py-spy, bench/checkins.py). Our routers are included as they are (no prefix, tag or
    dependency added on inclusion: they carry their own), so their routes are the app's
    routes, as if declared on it, and are matched once, like a bare app's. A router with
    start or stop handlers of its own would need `include_router`: it is refused here.
    """
    for router in routers:
        own_lifespan = not isinstance(router.lifespan_context, _NO_LIFESPAN)
        if router.on_startup or router.on_shutdown or own_lifespan:
            raise ValueError(f"{router.prefix or 'a router'} has start or stop handlers")
        app.router.routes.extend(router.routes)


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, run_jobs: bool = False
) -> FastAPI:
    """Build the app; procedure files are checked now so a bad edit fails at start, clearly.

    `run_jobs` starts the background jobs in this process (the embedded default of `serve`).
    """
    settings = settings or get_settings()
    engine = engine or make_engine(
        settings.database_url, settings.db_pool_size, settings.db_max_overflow
    )
    protocols = load_protocols(settings.schedules_dir)
    writer = make_writer(engine)
    vapid = LazyVapid(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the process: keeping it out
        # of the garbage collector's sweeps shortens the pauses requests feel.
        gc.collect()
        gc.freeze()
        scheduler = BackgroundScheduler(timezone=UTC) if run_jobs else None
        dispatcher = None
        take_down: Callable[[], None] = lambda: None  # noqa: E731
        metrics.JOBS_HERE.set(1 if run_jobs else 0)
        if scheduler is None:
            log.info("background jobs: not in this process (aftercare worker runs them)")
        else:
            dispatcher = make_dispatcher(engine, writer, settings, vapid.get(), checked_in_on)
            take_down = add_jobs(
                scheduler, session_factory(engine), writer, protocols, dispatcher, settings
            )
            scheduler.start()
        _app.state.scheduler = scheduler  # None without jobs; tests look at its jobs
        yield
        take_down()
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        if dispatcher is not None:
            dispatcher.close()
        writer.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Aftercare API",
        version=__version__,
        # The interactive docs would load scripts from a CDN: no third-party requests.
        docs_url=None,
        redoc_url=None,
        # FastAPI's own OpenTelemetry hooks stay off, whatever the environment says
        # (FASTAPI_OTEL_AUTO_CONFIGURE, a provider set by another library): they would
        # export a failed request's body and an error's message, which may hold what a
        # patient typed. Our logs are the record (aftercare.logs); asking at each request
        # whether a provider was set cost /healthz about 4% too (bench/checkins.py).
        telemetry=TELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.protocols = protocols
    app.state.writer = writer
    app.state.vapid = vapid

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(RecursionError, nested_too_deep)
    app.add_exception_handler(OperationalError, database_away)
    app.add_exception_handler(InterfaceError, database_away)
    app.add_exception_handler(TooOften, too_often)
    app.add_exception_handler(Exception, unexpected)

    # Pages, styles and scripts travel compressed: a weak connection pays for every byte.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    # A body too large, JSON too deep, text no database keeps: refused before any route.
    app.add_middleware(Inbound)
    # Outermost: every request gets its id and its line in the log, and every answer its
    # security headers, refused ones included.
    app.add_middleware(AccessLog, answer_headers=SecurityHeaders())

    # FastAPI tries the routes in turn, and trying one that does not match costs 3-4 µs:
    # the most requested come first (the probe, Today, the check-ins, then the patient's
    # other pages; bench/checkins.py). A check-in behind the seven other patient pages
    # paid ~25 µs for them.
    add_routes(
        app,
        health_router,
        today_page,
        checkins_router,
        patient_pages,
        accounts_router,
        protocols_router,
        nurse_router,
        patient_router,
        triage_router,
        flags_router,
        settings_router,
        reminders_router,
        privacy_router,
        reports_router,
        checkin_pages,
        info_pages,
        settings_pages,
        pwa_router,
        console_router,
        console_queue,
        console_account,
        console_patients,
        console_enrol,
        console_report,
        console_audit,
        console_clinic,
        messages_api,
        messages_pages,
        console_messages,
    )
    app.mount("/static", StaticFiles(directory=FRONTEND_DIR / "static"), name="static")
    return app
