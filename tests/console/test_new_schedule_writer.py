"""A new schedule (a surgery moved, new waking hours) rebuilds the plan and its reminders:
for an every-minute prescription, thousands of rows. On SQLite it is one job of the single
writer, audit row included, so that it waits its turn instead of holding the database's
lock against the check-ins; a rule it checks (a 422) changes nothing."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import Session, select

from aftercare.audit.models import AuditEvent
from aftercare.patients.models import Patient
from tests.console.conftest import Console
from tests.factories import Factory


@contextmanager
def commits() -> Iterator[list[Engine]]:
    """Every commit, with its engine: on SQLite the single writer has an engine of its own."""
    seen: list[Engine] = []
    listener = lambda connection: seen.append(connection.engine)  # noqa: E731
    event.listen(Engine, "commit", listener)
    try:
        yield seen
    finally:
        event.remove(Engine, "commit", listener)


def _one_commit_by_the_writer(seen: list[Engine], engine: Engine) -> None:
    assert len(seen) == 1, "the rebuild and its audit row are one transaction"
    if engine.dialect.name == "sqlite":
        assert seen[0] is not engine, "by the single writer, not on the request's connection"


def _actions(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(AuditEvent.action)))


def test_a_nurse_moving_the_surgery_is_one_job_of_the_writer(
    console: Console, factory: Factory, engine: Engine
):
    enrolment = factory.enrolment(console.nurse)
    console.csrf()
    with commits() as seen:
        response = console.post(
            f"/console/patients/{enrolment.id}/surgery",
            surgery_date="2027-04-02", surgery_time="14:15", timezone="Europe/Paris",
        )  # fmt: skip
    assert response.status_code == 303, response.text
    _one_commit_by_the_writer(seen, engine)
    assert "patient.surgery-moved" in _actions(engine)


def test_a_refused_schedule_changes_nothing_and_names_the_field(
    client: TestClient, factory: Factory, engine: Engine
):
    """The rule is checked inside the job (at least four waking hours): the answer names
    the field, and nothing is kept, neither the hours nor a half-built plan."""
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    with commits() as seen:
        response = client.patch(
            f"/api/v1/patients/{enrolment.id}",
            json={"wake_time": "20:00", "sleep_time": "21:00"},
            headers=nurse.headers,
        )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == "sleep_time"
    assert seen == [], "nothing committed"
    with Session(engine) as session:
        patient = session.get(Patient, uuid.UUID(enrolment.id))
        assert patient is not None and patient.wake_time != time(20, 0)


@pytest.mark.parametrize("who", ["nurse", "patient"])
def test_new_hours_through_the_api_are_one_job_of_the_writer(
    who: str, client: TestClient, factory: Factory, engine: Engine
):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    hours = {"wake_time": "06:30", "sleep_time": "21:00"}
    if who == "nurse":
        path, headers = f"/api/v1/patients/{enrolment.id}", nurse.headers
    else:
        path, headers = "/api/v1/me", factory.patient_headers(enrolment)
    with commits() as seen:
        response = client.patch(path, json=hours, headers=headers)
    assert response.status_code == 200, response.text
    _one_commit_by_the_writer(seen, engine)
    with Session(engine) as session:
        patient = session.get(Patient, uuid.UUID(enrolment.id))
        assert patient is not None and patient.wake_time == time(6, 30)
