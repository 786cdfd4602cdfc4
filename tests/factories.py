"""Clinics, nurses and patients for tests, made the way a user would make them."""

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from aftercare.accounts.service import create_nurse, get_or_create_clinic
from aftercare.db import session_scope

PASSWORD = "correct horse battery staple"


@dataclass
class NurseLogin:
    email: str
    token: str
    clinic: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Enrolment:
    id: str
    code: str
    url: str


class Factory:
    def __init__(self, engine: Engine, client: TestClient) -> None:
        self.engine = engine
        self.client = client

    def nurse(
        self, clinic: str = "north", email: str | None = None, admin: bool = False
    ) -> NurseLogin:
        email = email or f"nurse-{uuid.uuid4().hex[:8]}@{clinic}.example"
        with session_scope(self.engine) as session:
            create_nurse(session, email, PASSWORD, get_or_create_clinic(session, clinic), admin)
        response = self.client.post(
            "/api/v1/auth/token", data={"username": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return NurseLogin(email, response.json()["access_token"], clinic)

    def patient_body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "alias": "A.B.",
            "protocol": "hymenoplasty",
            "surgery_at": "2027-03-26T09:00:00+01:00",
            "timezone": "Europe/Paris",
            "language": "en",
            "wake_time": "08:00",
            "sleep_time": "22:00",
            "email": None,
        }
        body.update(changes)
        return body

    def enrolment(self, nurse: NurseLogin, **changes: Any) -> Enrolment:
        response = self.client.post(
            "/api/v1/patients", json=self.patient_body(**changes), headers=nurse.headers
        )
        assert response.status_code == 201, response.text
        data = response.json()
        return Enrolment(data["id"], data["enrollment_code"], data["enrollment_url"])

    def patient_headers(self, enrolment: Enrolment) -> dict[str, str]:
        response = self.client.post("/api/v1/enroll", json={"code": enrolment.code})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}
