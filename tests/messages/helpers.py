"""Patients with a thread, made through HTTP as the nurse and the phone make them."""

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from aftercare.messages.models import Message
from tests.factories import Enrolment, Factory, NurseLogin

PARIS = ZoneInfo("Europe/Paris")


def enrol(factory: Factory, nurse: NurseLogin, **changes: Any) -> tuple[Enrolment, dict[str, str]]:
    """A patient two days after surgery, and their phone's bearer headers."""
    surgery_at = (datetime.now(PARIS) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery_at, **changes)
    return enrolment, factory.patient_headers(enrolment)


def nurse_writes(client: TestClient, nurse: NurseLogin, patient_id: str, body: str) -> Any:
    response = client.post(
        f"/api/v1/patients/{patient_id}/messages", json={"body": body}, headers=nurse.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def patient_writes(client: TestClient, headers: dict[str, str], body: str, **more: Any) -> Any:
    response = client.post("/api/v1/me/messages", json={"body": body, **more}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def stored(engine: Engine, patient_id: str | None = None) -> list[tuple[str, str]]:
    """(sender, body) of the stored messages, oldest first."""
    query = select(Message).order_by(col(Message.created_at))
    if patient_id is not None:
        query = query.where(Message.patient_id == uuid.UUID(patient_id))
    with Session(engine) as session:
        return [(message.sender, message.body) for message in session.exec(query)]
