"""Two clinics and the people who use them, made through HTTP as they make themselves.

Clinic A has a nurse, an admin, a spare nurse (the one the admin pages act
on) and two patients, A and B; clinic B has a nurse and an admin. Patient B
shares patient A's clinic: a patient route that only checked the clinic would
show B patient A's records. Each patient is two enrolments: their phone spent
one code on the enrolment page (the pages' cookie) and their device spent
another through `POST /api/v1/enroll` (the API's token), because a code works
once and no new code is given after enrolment.

Every request carries its identity's credentials explicitly and the test
client keeps no cookie between requests, so a cell that signs in, enrols or
signs out never changes who the next cell is.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from aftercare.accounts.models import Nurse
from aftercare.reminders.dispatcher import Dispatcher
from tests.console.conftest import csrf_of, sign_in
from tests.factories import PASSWORD, Enrolment, Factory, NurseLogin

PARIS = ZoneInfo("Europe/Paris")
PUBLIC, PATIENT, NURSE, ADMIN = "public", "patient", "nurse", "admin"
# Plan items a patient ticks off by hand (api.md: not reading matter, milestones, the check-in).
TICKABLE = ("medication", "hygiene", "wound-care", "activity", "rest", "follow-up")


@dataclass
class Identity:
    """Someone sending requests: their roles, where they belong, what they present."""

    name: str
    roles: frozenset[str] = frozenset()
    clinic: str | None = None
    patient: str | None = None
    token: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    email: str | None = None

    def owns(self, role: str) -> bool:
        """Whether clinic A's or patient A's resource is theirs under this role."""
        return self.patient == "A" if role == PATIENT else self.clinic == "A"

    @property
    def entitled_to_a(self) -> bool:
        """Whether patient A's private text may ever be shown to them."""
        return self.patient == "A" or (NURSE in self.roles and self.clinic == "A")


@dataclass
class World:
    client: TestClient
    factory: Factory
    enroller: NurseLogin
    door: NurseLogin
    identities: list[Identity]
    # A code for the routes that show it without spending it.
    unspent_code: str
    # Path parameters naming clinic A's and patient A's resources.
    api_params: dict[str, str] = field(default_factory=dict)
    console_params: dict[str, str] = field(default_factory=dict)
    # Patient A's private text; nobody but patient A and clinic A's nurses may be shown it.
    markers: list[str] = field(default_factory=list)
    _tokens: dict[tuple[str, tuple[tuple[str, str], ...]], str] = field(default_factory=dict)

    def fresh_code(self) -> str:
        """An unspent enrolment code of a new patient of clinic A."""
        return self.factory.enrolment(self.enroller, surgery_at=two_days_ago()).code

    def send(
        self,
        identity: Identity,
        method: str,
        path: str,
        json: Any = None,
        form: dict[str, Any] | None = None,
    ) -> Any:
        """One request with the identity's credentials: its token on the API, its cookies on
        pages, and its CSRF token where a page's form or script would send it."""
        headers: dict[str, str] = {}
        if path.startswith("/api/"):
            if identity.token:
                headers["Authorization"] = f"Bearer {identity.token}"
        elif identity.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in identity.cookies.items())
        csrf = self.form_token(identity, path) if identity.cookies.get("csrf") else None
        if csrf and not path.startswith("/api/"):
            headers["X-CSRF-Token"] = csrf
            if method == "POST" and json is None:
                form = {"csrf_token": csrf, **(form or {})}
        self.client.cookies.clear()
        try:
            return self.client.request(
                method, path, headers=headers, json=json, data=form, follow_redirects=False
            )
        finally:
            self.client.cookies.clear()

    def form_token(self, identity: Identity, path: str) -> str:
        """The token a page shows this identity: it is bound to the session its cookies
        hold (the console's under /console, the phone's elsewhere)."""
        page = "/console/sign-in" if path.startswith("/console") else f"/start/{self.unspent_code}"
        key = (page, tuple(sorted(identity.cookies.items())))
        if key not in self._tokens:
            cookie = "; ".join(f"{k}={v}" for k, v in identity.cookies.items())
            self.client.cookies.clear()
            shown = self.client.get(page, headers={"Cookie": cookie}, follow_redirects=False)
            self.client.cookies.clear()
            self._tokens[key] = csrf_of(shown.text)
        return self._tokens[key]

    def sign_in_again(self, identity: Identity) -> None:
        """A nurse who signed out: a new console session and a new token."""
        assert identity.email is not None
        identity.cookies = console_cookies(self.client, identity.email)
        identity.token = api_token(self.client, identity.email)


def two_days_ago() -> str:
    return (datetime.now(PARIS) - timedelta(days=2)).isoformat()


def _jar(client: TestClient) -> dict[str, str]:
    cookies = {cookie.name: cookie.value or "" for cookie in client.cookies.jar}
    client.cookies.clear()
    return cookies


def console_cookies(client: TestClient, email: str) -> dict[str, str]:
    client.cookies.clear()
    response = sign_in(client, email)
    assert response.status_code == 303, response.text
    return _jar(client)


def api_token(client: TestClient, email: str) -> str:
    response = client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def phone_cookies(client: TestClient, enrolment: Enrolment) -> dict[str, str]:
    """The enrolment page's flow: open the link, press the button, keep the cookies."""
    client.cookies.clear()
    path = enrolment.url.removeprefix("http://testserver")
    page = client.get(path)
    response = client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/today", response.text
    return _jar(client)


def checkin_answers(note: str = "", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "recorded_at": (datetime.now(PARIS) - timedelta(minutes=1)).isoformat(),
        "pain": 2, "temperature_c": 36.9, "bleeding": "none", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": note,
    }  # fmt: skip
    body.update(changes)
    return body


def _nurse_identity(client: TestClient, name: str, login: NurseLogin, admin: bool) -> Identity:
    roles = frozenset({NURSE, ADMIN} if admin else {NURSE})
    return Identity(name, roles, clinic=name[-1], token=login.token, email=login.email,
                    cookies=console_cookies(client, login.email))  # fmt: skip


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if "json" in response.headers.get("content-type", "") else None


def build_world(
    client: TestClient, factory: Factory, engine: Engine, dispatcher: Dispatcher
) -> World:
    """Clinics A and B, six people and an anonymous browser, and patient A's records."""
    tag = uuid.uuid4().hex[:6]
    nurse_a = factory.nurse("clinic-a")
    spare = factory.nurse("clinic-a")
    nurse_b = factory.nurse("clinic-b")
    client.cookies.clear()
    client.get("/")
    world = World(
        client=client,
        factory=factory,
        enroller=nurse_a,
        door=nurse_b,
        # An anonymous browser has a CSRF cookie too: its forms are refused for who sends them.
        identities=[Identity("anonymous", cookies=_jar(client))],
        unspent_code=factory.enrolment(nurse_a, surgery_at=two_days_ago()).code,
    )
    world.identities += [
        _nurse_identity(client, "nurse A", nurse_a, admin=False),
        _nurse_identity(client, "admin A", factory.nurse("clinic-a", admin=True), admin=True),
        _nurse_identity(client, "nurse B", nurse_b, admin=False),
        _nurse_identity(client, "admin B", factory.nurse("clinic-b", admin=True), admin=True),
    ]
    devices: dict[str, Enrolment] = {}
    phones: dict[str, Enrolment] = {}
    for who in ("A", "B"):
        alias = f"P{who}-{tag}"
        devices[who] = factory.enrolment(nurse_a, alias=alias, surgery_at=two_days_ago())
        phones[who] = factory.enrolment(nurse_a, alias=alias + "p", surgery_at=two_days_ago())
        token = factory.patient_headers(devices[who])["Authorization"].removeprefix("Bearer ")
        cookies = phone_cookies(client, phones[who])
        world.identities.append(
            Identity(f"patient {who}", frozenset({PATIENT}), "A", who, token, cookies)
        )
    patient_a = world.identities[-2]
    world.markers += [f"PA-{tag}", f"PA-{tag}p"]

    # Patient A's records: a red flag from each enrolment, a check-in answered on its
    # own page, a reminder shown in the app, a thread with the clinic.
    note = f"note-{tag}"
    world.markers.append(note)
    heavy = checkin_answers(note=note, bleeding="heavy")
    _ok(world.send(patient_a, "POST", "/api/v1/me/checkins", json=heavy), 201)
    sent = world.send(patient_a, "POST", "/checkin", form=phone_form(heavy))
    assert sent.status_code == 303, sent.text
    flags = _ok(client.get("/api/v1/flags", headers=nurse_a.headers))["items"]
    flag_of = {item["patient_id"]: str(item["id"]) for item in flags}
    _ok(world.send(patient_a, "POST", "/api/v1/me/test-notification"), 202)
    dispatcher.sweep(datetime.now(UTC) + timedelta(seconds=1))
    reminders = _ok(world.send(patient_a, "GET", "/api/v1/me/reminders"))["items"]
    assert reminders, "the test notification is not shown in the app"
    for enrolment in (devices["A"], phones["A"]):
        body = f"nurse-said-{tag}-{enrolment.id[:8]}"
        world.markers.append(body)
        _ok(client.post(f"/api/v1/patients/{enrolment.id}/messages", json={"body": body},
                        headers=nurse_a.headers), 201)  # fmt: skip
    body = f"patient-said-{tag}"
    world.markers.append(body)
    _ok(world.send(patient_a, "POST", "/api/v1/me/messages", json={"body": body}), 201)

    plan = _ok(world.send(patient_a, "GET", "/api/v1/me/plan"))
    item = next(item["id"] for day in plan["days"] for item in day["items"]
                if item["kind"] in TICKABLE)  # fmt: skip
    calendar = _ok(world.send(patient_a, "GET", "/api/v1/me/calendar"))["url"]
    with Session(engine) as session:
        spare_id = session.exec(select(Nurse.id).where(Nurse.email == spare.email)).one()
    shared = {
        "checkin_id": sent.headers["location"].removeprefix("/checkins/"),
        "nurse_id": str(spare_id),
        "reminder_id": str(reminders[0]["id"]),
        "item_id": item,
        "token": calendar.rsplit("/", 1)[-1].removesuffix(".ics"),
    }
    # The API's nurse routes act on patient A's device, the console's on patient A's phone:
    # each enrolment's test reminders then stay within the hourly limit (reminders.service),
    # and each flag is acted on by one side only.
    world.api_params = {**shared, "patient_id": devices["A"].id,
                        "flag_id": flag_of[devices["A"].id]}  # fmt: skip
    world.console_params = {**shared, "patient_id": phones["A"].id,
                            "flag_id": flag_of[phones["A"].id]}  # fmt: skip
    return world


def phone_form(answers: dict[str, Any]) -> dict[str, Any]:
    """Check-in answers as the phone's form sends them."""
    return {**answers, "nausea": str(answers["nausea"]).lower(),
            "wants_contact": str(answers["wants_contact"]).lower()}  # fmt: skip


def unknown_value(name: str) -> str:
    """A well-formed id that names nothing."""
    return "2147483647" if name == "reminder_id" else str(uuid.uuid4())


ID_PATTERN = re.compile(r"\{(\w+)\}")
