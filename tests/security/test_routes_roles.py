"""Every route of the app, API and pages, against who may use it.

The routes come from the router itself. `ROUTES` says, for each method and
path, who may use it: anyone (`public`), a patient for their own records
(`patient`), a nurse for her own clinic (`nurse`) or an admin for her own
clinic (`admin`). A route the app serves and the table does not name fails
the test, and so does a table entry the app no longer serves.

Each route is then sent by an anonymous browser, patients A and B, nurses A
and B and admins A and B (see `world.py`), with clinic A's and patient A's ids
in its path, and answered as the table implies:
- allowed: past the door (a 409 or 422 for the body is fine), never 401, 403,
  404 or a redirect to a sign-in page;
- no right to the route: 401 on the API, the sign-in page on the console (404
  for a nurse on an admin page: it does not exist for her), the neutral
  landing page on the patient's pages;
- the right role, but another clinic's or patient's resource: 404, exactly as
  for an id that names nothing (its existence is not revealed);
- never a 5xx, and never patient A's private text to anyone but patient A and
  clinic A's nurses.
"""

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import Mount

from aftercare.app import add_routes
from aftercare.console import queue as live_queue
from aftercare.reminders.dispatcher import Dispatcher
from tests.factories import PASSWORD, Factory
from tests.security.world import (
    ADMIN,
    ID_PATTERN,
    NURSE,
    PARIS,
    PATIENT,
    PUBLIC,
    Identity,
    World,
    build_world,
    checkin_answers,
    phone_form,
    two_days_ago,
    unknown_value,
)

Body = Callable[[World], Any]


@dataclass(frozen=True)
class Expect:
    """An answer: `status` None means allowed (anything but a refusal)."""

    status: int | None = None
    location: str | None = None

    def __str__(self) -> str:
        if self.status is None:
            return "allowed"
        return f"{self.status} to {self.location}" if self.location else str(self.status)


ALLOWED = Expect()
UNAUTHORISED = Expect(401)
NOT_FOUND = Expect(404)
TO_LANDING = Expect(303, "/")
TO_SIGN_IN = Expect(303, "/console/sign-in")
# Where the app sends someone it refuses; an allowed request never lands there.
REFUSED_TO = {"/", "/console/sign-in", "/console/sign-in?timeout=1"}


@dataclass(frozen=True)
class Entry:
    who: frozenset[str]
    json: Body | None = None
    form: Body | None = None
    # When the route refuses differently from the rest of its family (see `expected`).
    denied: Expect | None = None
    foreign: Expect = NOT_FOUND
    # The request ends the session or erases the patient: sent after every other route.
    ends: bool = False


def public(**options: Any) -> Entry:
    return Entry(frozenset({PUBLIC}), **options)


def patient(**options: Any) -> Entry:
    return Entry(frozenset({PATIENT}), **options)


def nurse(**options: Any) -> Entry:
    return Entry(frozenset({NURSE}), **options)


def admin(**options: Any) -> Entry:
    return Entry(frozenset({ADMIN}), **options)


def _subscription(_world: World) -> dict[str, Any]:
    return {
        "endpoint": f"https://push.example.net/send/{time.monotonic_ns()}",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0c2VjcmV0"},
    }


def _surgery(_world: World) -> dict[str, str]:
    when = datetime.now(PARIS) - timedelta(days=2)
    return {"surgery_date": when.date().isoformat(), "surgery_time": when.strftime("%H:%M"),
            "timezone": "Europe/Paris"}  # fmt: skip


def _followup(_world: World) -> dict[str, str]:
    when = datetime.now(PARIS) + timedelta(days=5)
    return {"followup_date": when.date().isoformat(), "followup_time": "14:30",
            "followup_place": "Room 3"}  # fmt: skip


def _enrol_form(world: World) -> dict[str, str]:
    return {"alias": "E.F.", "protocol": "hymenoplasty", "language": "en",
            "wake_time": "08:00", "sleep_time": "22:00", **_surgery(world)}  # fmt: skip


def _clinic_form(_world: World) -> dict[str, str]:
    return {"name": "A clinic", "phone": "+33 1 23 45 67 89", "emergency_number": "112",
            "work_start": "08:00", "work_end": "18:00", "ack_target_minutes": "30",
            "session_timeout_minutes": "240", "app_name": "Care"}  # fmt: skip


_ENDPOINT = {"endpoint": "https://push.example.net/send/none"}
_RESOLVE = {"note": "Called back.", "outcome": "called-patient"}
_MESSAGE = {"body": "Hello."}

ROUTES: dict[tuple[str, str], Entry] = {
    ("GET", "/openapi.json"): public(),
    ("GET", "/healthz"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/static"): public(),
    # The bearer API: nurses.
    ("POST", "/api/v1/auth/token"): public(
        form=lambda w: {"username": w.door.email, "password": PASSWORD}
    ),
    ("GET", "/api/v1/protocols"): nurse(),
    ("POST", "/api/v1/patients"): nurse(
        json=lambda w: w.factory.patient_body(surgery_at=two_days_ago())
    ),
    ("GET", "/api/v1/patients"): nurse(),
    ("GET", "/api/v1/patients/{patient_id}"): nurse(),
    ("PATCH", "/api/v1/patients/{patient_id}"): nurse(json=lambda w: {"wake_time": "08:00"}),
    ("GET", "/api/v1/patients/{patient_id}/plan"): nurse(),
    ("GET", "/api/v1/patients/{patient_id}/checkins"): nurse(),
    ("POST", "/api/v1/patients/{patient_id}/test-reminder"): nurse(),
    ("GET", "/api/v1/patients/{patient_id}/messages"): nurse(),
    ("POST", "/api/v1/patients/{patient_id}/messages"): nurse(json=lambda w: _MESSAGE),
    ("GET", "/api/v1/flags"): nurse(),
    ("POST", "/api/v1/flags/{flag_id}/acknowledge"): nurse(),
    ("POST", "/api/v1/flags/{flag_id}/resolve"): nurse(json=lambda w: _RESOLVE),
    # The bearer API: the patient's device.
    ("POST", "/api/v1/enroll"): public(json=lambda w: {"code": w.fresh_code()}),
    ("GET", "/api/v1/me/plan"): patient(),
    ("PUT", "/api/v1/me/plan/items/{item_id}/done"): patient(),
    ("DELETE", "/api/v1/me/plan/items/{item_id}/done"): patient(),
    ("POST", "/api/v1/me/checkins"): patient(json=lambda w: checkin_answers()),
    ("GET", "/api/v1/me/checkins"): patient(),
    ("GET", "/api/v1/me/triage"): patient(),
    ("PATCH", "/api/v1/me"): patient(json=lambda w: {"language": "en"}),
    ("GET", "/api/v1/push/key"): public(),
    ("POST", "/api/v1/me/push-subscriptions"): patient(json=_subscription),
    ("POST", "/api/v1/me/test-notification"): patient(),
    ("GET", "/api/v1/me/reminders"): patient(),
    ("POST", "/api/v1/me/reminders/{reminder_id}/seen"): patient(),
    ("GET", "/api/v1/me/calendar"): patient(),
    # Whoever has the feed's private address may read it: that is what a calendar app does.
    ("GET", "/calendar/{token}.ics"): public(),
    ("GET", "/api/v1/me/export"): patient(),
    ("GET", "/api/v1/me/messages"): patient(),
    ("POST", "/api/v1/me/messages"): patient(json=lambda w: _MESSAGE),
    ("DELETE", "/api/v1/me"): patient(ends=True),
    # The patient's pages.
    ("GET", "/"): public(),
    ("GET", "/start/{code}"): public(),
    ("GET", "/start/{code}/qr.svg"): public(),
    ("POST", "/start/{code}"): public(),
    ("GET", "/manifest.webmanifest"): public(),
    ("GET", "/sw.js"): public(),
    ("GET", "/offline"): public(),
    ("GET", "/saved"): public(),
    ("GET", "/today"): patient(),
    ("POST", "/today/done"): patient(form=lambda w: {"item": w.api_params["item_id"], "done": "1"}),
    ("GET", "/plan"): patient(),
    ("GET", "/checkin"): patient(),
    ("POST", "/checkin"): patient(form=lambda w: phone_form(checkin_answers())),
    ("GET", "/checkin/rules.json"): patient(),
    ("GET", "/checkins/{checkin_id}"): patient(),
    # Marks the answer seen if the check-in is the phone's own, and answers the same for any
    # id: what it reveals is what a 404 would.
    ("POST", "/checkins/{checkin_id}/seen"): patient(foreign=Expect(303, "/today")),
    ("GET", "/history"): patient(),
    ("GET", "/warning-signs"): patient(),
    ("GET", "/messages"): patient(),
    ("POST", "/messages"): patient(form=lambda w: _MESSAGE),
    ("GET", "/privacy"): patient(),
    ("GET", "/privacy/export"): patient(),
    ("GET", "/privacy/delete"): patient(),
    ("POST", "/privacy/delete"): patient(ends=True),
    ("GET", "/settings"): patient(),
    ("POST", "/settings"): patient(form=lambda w: {"language": "en", "email": ""}),
    ("POST", "/settings/hours"): patient(
        form=lambda w: {"wake_time": "08:00", "sleep_time": "22:00"}
    ),
    ("POST", "/settings/phone"): patient(form=lambda w: {"number": "0612345678", "safe": "on"}),
    # The page's script posts these: a plain 401, not a redirect.
    ("POST", "/settings/push"): patient(json=_subscription, denied=UNAUTHORISED),
    ("POST", "/settings/push/off"): patient(json=lambda w: _ENDPOINT, denied=UNAUTHORISED),
    ("POST", "/settings/test"): patient(),
    # The console.
    ("GET", "/console"): nurse(),
    ("GET", "/console/sign-in"): public(),
    ("POST", "/console/sign-in"): public(
        form=lambda w: {"email": w.door.email, "password": PASSWORD}
    ),
    ("POST", "/console/sign-out"): nurse(ends=True),
    ("POST", "/console/sign-out-everywhere"): nurse(ends=True),
    ("GET", "/console/sw.js"): public(),
    ("GET", "/console/queue"): nurse(),
    ("GET", "/console/queue/list"): nurse(),
    ("GET", "/console/queue/events"): nurse(),
    ("POST", "/console/flags/{flag_id}/acknowledge"): nurse(
        form=lambda w: {"next": "/console/queue"}
    ),
    ("POST", "/console/flags/{flag_id}/resolve"): nurse(form=lambda w: _RESOLVE),
    ("POST", "/console/cards/acknowledge"): nurse(form=lambda w: {"next": "/console/queue"}),
    ("POST", "/console/cards/resolve"): nurse(form=lambda w: _RESOLVE),
    ("GET", "/console/account"): nurse(),
    ("POST", "/console/account"): nurse(form=lambda w: {"display_name": "A", "language": ""}),
    ("POST", "/console/push"): nurse(json=_subscription),
    ("POST", "/console/push/off"): nurse(json=lambda w: _ENDPOINT),
    ("GET", "/console/patients"): nurse(),
    ("GET", "/console/patients/{patient_id}"): nurse(),
    ("POST", "/console/patients/{patient_id}/test-reminder"): nurse(),
    ("POST", "/console/patients/{patient_id}/surgery"): nurse(form=_surgery),
    ("POST", "/console/patients/{patient_id}/code"): nurse(),
    ("POST", "/console/patients/{patient_id}/contact"): nurse(
        form=lambda w: {"phone": "0612345678", "phone_safe_to_call": "on"}
    ),
    ("POST", "/console/patients/{patient_id}/followup"): nurse(form=_followup),
    ("GET", "/console/patients/{patient_id}/messages"): nurse(),
    ("POST", "/console/patients/{patient_id}/messages"): nurse(form=lambda w: _MESSAGE),
    ("GET", "/console/messages"): nurse(),
    ("GET", "/console/enrol"): nurse(),
    ("POST", "/console/enrol"): nurse(form=_enrol_form),
    ("GET", "/console/report"): nurse(),
    ("GET", "/console/report.csv"): nurse(),
    ("GET", "/console/audit"): admin(),
    ("GET", "/console/audit.csv"): admin(),
    ("GET", "/console/clinic"): admin(),
    ("POST", "/console/clinic"): admin(form=_clinic_form),
    ("GET", "/console/clinic/nurses"): admin(),
    ("POST", "/console/clinic/nurses"): admin(
        form=lambda w: {"email": f"new-{time.monotonic_ns()}@a.example", "password": PASSWORD}
    ),
    ("POST", "/console/clinic/nurses/{nurse_id}/disable"): admin(),
    ("POST", "/console/clinic/nurses/{nurse_id}/enable"): admin(),
    ("POST", "/console/clinic/nurses/{nurse_id}/password"): admin(
        form=lambda w: {"password": PASSWORD + " again"}
    ),
}

# Path parameters that name a resource of one clinic or one patient. The others name
# something of the caller's own (a plan item's key) or are the credential themselves.
OWNED = {"patient_id", "flag_id", "checkin_id", "nurse_id", "reminder_id"}
STATIC_PROBE = "/static/css/console.css"
# The order cells are sent in: those who must be refused first, owners last.
ORDER = ["anonymous", "patient B", "nurse B", "admin B", "nurse A", "admin A", "patient A"]


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves; a mount is one GET."""
    found: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.append(("GET", str(route.path)))
            continue
        for method in sorted(route.methods or ()):
            if method not in ("HEAD", "OPTIONS"):
                found.append((method, str(route.path)))
    return found


def test_every_route_of_the_app_is_in_the_table(client: TestClient) -> None:
    served = app_routes(client.app)  # type: ignore[arg-type]
    assert len(served) == len(set(served)), "a route is served twice"
    missing = [f"{method} {path}" for method, path in served if (method, path) not in ROUTES]
    stale = [f"{method} {path}" for method, path in ROUTES if (method, path) not in served]
    assert not missing and not stale, (
        f"Routes the app serves with no entry in ROUTES: {missing}; add each one to "
        "tests/security/test_routes_roles.py with who may use it: public(), patient(), "
        f"nurse() or admin(). Entries for routes the app does not serve: {stale}; remove them."
    )


def test_every_route_is_matched_in_the_apps_own_table(client: TestClient) -> None:
    """A request is matched once, against the app's table, as in a bare app: a router
    kept as a branch (FastAPI's `include_router`) is walked twice per request, and a
    check-in behind three of them spent 6% of its time finding its route
    (`aftercare.app.add_routes`)."""
    kinds = {type(route).__name__ for route in client.app.routes}  # type: ignore[attr-defined]
    assert kinds <= {"APIRoute", "Route", "Mount"}, kinds
    routes = client.app.routes  # type: ignore[attr-defined]
    assert [route.path for route in routes[1:4]] == ["/healthz", "/today", "/api/v1/me/checkins"]


def test_a_router_with_start_or_stop_handlers_is_not_added_as_plain_routes() -> None:
    """Its handlers would be lost with the branch: `add_routes` says so at start."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield

    plain, starting = APIRouter(), APIRouter(lifespan=lifespan)
    plain.get("/plain")(lambda: None)
    app = FastAPI()
    add_routes(app, plain)
    assert [route.path for route in app.routes][-1] == "/plain"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="start or stop handlers"):
        add_routes(app, starting)


def expected(entry: Entry, path: str, identity: Identity) -> Expect:
    if PUBLIC in entry.who:
        return ALLOWED
    granted = entry.who & identity.roles
    if not granted:
        if entry.denied is not None:
            return entry.denied
        if path.startswith("/api/"):
            return UNAUTHORISED
        if path.startswith("/console"):
            # An admin page does not exist for a nurse who is not one.
            return NOT_FOUND if NURSE in identity.roles else TO_SIGN_IN
        return TO_LANDING
    owned = OWNED & set(ID_PATTERN.findall(path))
    if owned and not any(identity.owns(role) for role in granted):
        return entry.foreign
    return ALLOWED


def problem(expect: Expect, response: Any, identity: Identity, world: World) -> str | None:
    """What is wrong with an answer, in words; None when it is as the table says."""
    status = response.status_code
    location = response.headers.get("location")
    if status >= 500:
        return f"{status}"
    if not identity.entitled_to_a and any(marker in response.text for marker in world.markers):
        return f"{status} showing patient A's private text"
    if expect.status is None:
        refused = status in (401, 403, 404) or location in REFUSED_TO
        return f"{status} {location or ''}".strip() if refused else None
    if status != expect.status or location != expect.location:
        return f"{status} {location or ''}".strip()
    return None


@dataclass
class Cell:
    method: str
    template: str
    entry: Entry
    identity: Identity
    expect: Expect
    unknown_ids: bool = False


def cells(world: World, served: list[tuple[str, str]]) -> Iterator[Cell]:
    """Every route for every identity, the routes that end a session or a patient last.

    A route naming an owned resource is first sent by its owner with ids that name
    nothing: another clinic's or patient's resource must be answered the same way.
    """
    by_name = {identity.name: identity for identity in world.identities}
    identities = [by_name[name] for name in ORDER]
    known = [(method, path) for method, path in served if (method, path) in ROUTES]
    for method, path in sorted(known, key=lambda key: ROUTES[key].ends):
        entry = ROUTES[(method, path)]
        if OWNED & set(ID_PATTERN.findall(path)):
            owner = next(one for one in identities if expected(entry, path, one) == ALLOWED)
            yield Cell(method, path, entry, owner, entry.foreign, unknown_ids=True)
        for identity in identities:
            yield Cell(method, path, entry, identity, expected(entry, path, identity))


def request_path(world: World, cell: Cell) -> str:
    if cell.template == "/static":
        return STATIC_PROBE
    params = world.console_params if cell.template.startswith("/console") else world.api_params

    def value(match: Any) -> str:
        name = match.group(1)
        if name == "code":
            return world.fresh_code() if cell.method == "POST" else world.unspent_code
        return unknown_value(name) if cell.unknown_ids and name in OWNED else params[name]

    return ID_PATTERN.sub(value, cell.template)


@pytest.fixture
def short_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live queue's stream ends within a moment, so that reading it whole is quick."""
    monkeypatch.setattr(live_queue, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(live_queue, "STREAM_SECONDS", 0.05)


@pytest.mark.usefixtures("short_streams")
def test_each_route_answers_each_identity_as_the_table_says(
    client: TestClient, factory: Factory, engine: Engine, dispatcher: Dispatcher
) -> None:
    started = time.monotonic()
    world = build_world(client, factory, engine, dispatcher)
    built = time.monotonic()
    served = app_routes(client.app)  # type: ignore[arg-type]
    failures: list[str] = []
    signed_out: set[str] = set()
    count = 0
    for cell in cells(world, served):
        entry, identity, expect = cell.entry, cell.identity, cell.expect
        if identity.name in signed_out:
            world.sign_in_again(identity)
            signed_out.discard(identity.name)
        path = request_path(world, cell)
        json = entry.json(world) if entry.json else None
        form = entry.form(world) if entry.form else None
        count += 1
        wrong: str | None
        try:
            response = world.send(identity, cell.method, path, json=json, form=form)
        except Exception as error:  # the app's own fault, raised again by the test client
            wrong, excerpt = f"a server error ({type(error).__name__})", ""
        else:
            wrong = problem(expect, response, identity, world)
            excerpt = response.text[:100].replace("\n", " ")
        if wrong is not None:
            who = f"{identity.name} (unknown id)" if cell.unknown_ids else identity.name
            failures.append(
                f"{cell.method} {cell.template} as {who}: expected {expect}, got {wrong}"
                f" ({excerpt!r})"
            )
        if entry.ends and expect == ALLOWED and NURSE in identity.roles:
            signed_out.add(identity.name)
    print(f"{len(served)} routes, {len(world.identities)} identities, {count} requests; "
          f"world {built - started:.1f} s, cells {time.monotonic() - built:.1f} s")  # fmt: skip
    assert not failures, "\n".join(failures)
