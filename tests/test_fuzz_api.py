"""Schemathesis sends generated requests, valid and invalid, to every /api/v1 operation:
no answer is a 5xx, and every answer is one the OpenAPI description announces (status
code, content type, headers, body schema).

Each case is sent with the token of the other role (nurse or patient), which is refused,
then with the one of the operation's audience. Bounded by examples, not by time,
and derandomised: CI replays the very same requests. Each operation is one test with its
own database; erasing the patient (DELETE /api/v1/me) gets a fresh patient every case.
"""

import tempfile
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case, CheckFunction
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aftercare.app import create_app
from aftercare.settings import SHIPPED_SCHEDULES_DIR, Settings
from tests.factories import Factory, NurseLogin

# Generated cases per operation, beside schemathesis' own examples and boundary cases:
# 32 operations, 5,385 cases (10,305 requests) in 2.5 to 3.5 minutes on this 2-core machine.
EXAMPLES = 200
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PUBLIC = {"/api/v1/auth/token", "/api/v1/enroll", "/api/v1/push/key"}


def _openapi() -> dict[str, Any]:
    """The description the app serves at /openapi.json (the app is built, never started)."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            Settings(
                _env_file=None,
                database_url=f"sqlite:///{folder}/openapi.db",
                secret_key="openapi-" + uuid.uuid4().hex,
                schedules_dir=SHIPPED_SCHEDULES_DIR,
            )
        )
        try:
            return app.openapi()
        finally:
            app.state.writer.close()


OPENAPI = _openapi()
# Valid and invalid requests both (schemathesis' default modes).
SCHEMA = schemathesis.openapi.from_dict(OPENAPI).include(path_regex=r"^/api/v1/")


def _audience(path: str) -> str | None:
    if path in PUBLIC:
        return None
    return "patient" if path.startswith("/api/v1/me") else "nurse"


@dataclass
class World:
    """What a case may point at: the nurse's patient, a red flag, a plan item, a reminder."""

    factory: Factory
    nurse: NurseLogin
    patient_id: str
    patient_token: str
    flag_id: str
    item_id: str
    reminder_id: int

    def token(self, role: str) -> str:
        return self.nurse.token if role == "nurse" else self.patient_token

    def fresh_patient_token(self) -> str:
        headers = self.factory.patient_headers(self.factory.enrolment(self.nurse))
        return headers["Authorization"].removeprefix("Bearer ")

    def point_at_real_things(self, case: Case[Any]) -> None:
        """Three cases in four name things that exist; the others keep their generated id."""
        real: dict[str, object] = {
            "patient_id": self.patient_id,
            "flag_id": self.flag_id,
            "item_id": self.item_id,
            "reminder_id": self.reminder_id,
        }
        for name, value in (case.path_parameters or {}).items():
            if name in real and zlib.crc32(repr(value).encode()) % 4:
                case.path_parameters[name] = real[name]


@pytest.fixture
def world(client, factory, dispatcher) -> World:
    nurse = factory.nurse()
    enrolment = factory.enrolment(
        nurse, surgery_at=(datetime.now(UTC) - timedelta(days=2)).isoformat()
    )
    patient = factory.patient_headers(enrolment)
    red = {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(UTC).isoformat(), "pain": 9,
        "temperature_c": 39.2, "bleeding": "heavy", "discharge": "none", "urination": "normal",
        "allergy": "none", "nausea": False, "wants_contact": True, "note": "",
    }  # fmt: skip
    assert client.post("/api/v1/me/checkins", json=red, headers=patient).status_code == 201
    flags = client.get("/api/v1/flags", headers=nurse.headers).json()["items"]
    assert client.post("/api/v1/me/messages", json={"body": "hello"}, headers=patient).is_success
    assert client.post("/api/v1/me/test-notification", headers=patient).status_code == 202
    dispatcher.sweep(datetime.now(UTC) + timedelta(seconds=1))
    reminders = client.get("/api/v1/me/reminders", headers=patient).json()["items"]
    plan = client.get("/api/v1/me/plan", headers=patient).json()
    item = next(item for day in plan["days"] for item in day["items"] if item["tickable"])
    return World(
        factory=factory,
        nurse=nurse,
        patient_id=enrolment.id,
        patient_token=patient["Authorization"].removeprefix("Bearer "),
        flag_id=flags[0]["id"],
        item_id=item["id"],
        reminder_id=reminders[0]["id"],
    )


def _send(case: Case[Any], client: TestClient, token: str | None) -> Any:
    """Send the case through the test client (the app it started) and check the answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    body = request.pop("data", None)
    if isinstance(body, bytes | str):
        request["content"] = body
    elif body is not None:
        request["data"] = body
    request.pop("cookies", None)  # no route reads cookies; none are generated
    response = client.request(**request)
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


@SCHEMA.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(case, world, client):
    world.point_at_real_things(case)
    audience = _audience(case.path)
    if audience is None:
        _send(case, client, None)
        return
    stranger = "patient" if audience == "nurse" else "nurse"
    refused = _send(case, client, world.token(stranger))
    if (case.method.upper(), case.path) == ("DELETE", "/api/v1/me"):
        answered = _send(case, client, world.fresh_patient_token())
    else:
        answered = _send(case, client, world.token(audience))
    if refused.status_code == 401:
        return
    # Refused for its form before any token is looked at, and never served: a method the
    # route lacks, a body over the limit, a multipart body (no route takes a file).
    assert refused.status_code in {405, 413, 415}, refused.text
    assert answered.status_code == refused.status_code, answered.text


def test_a_json_body_that_is_not_utf8_is_422(client, factory):
    nurse = factory.nurse()
    headers = {**nurse.headers, "Content-Type": "application/json"}
    response = client.post("/api/v1/patients", content=b'{"alias": "\xff"}', headers=headers)
    assert response.status_code == 422, response.text
