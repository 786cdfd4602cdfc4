"""Reaching the patient outside the app (issue 13, item 3): a phone number, whether a
call is safe, whether a message may be left, the best time; set at enrolment, by the
nurse and by the patient; in the FHIR export; gone with the patient."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session

from aftercare.db import session_factory
from aftercare.patients.models import Patient
from aftercare.patients.schemas import check_phone
from aftercare.privacy.retention import anonymise_due_patients

CONTACT = {
    "phone": "+33  6 12 34 56 78 ",
    "phone_safe_to_call": True,
    "phone_leave_message": False,
    "phone_best_time": " weekdays  after 18:00 ",
}
NO_CONTACT = {
    "phone": None,
    "phone_safe_to_call": False,
    "phone_leave_message": False,
    "phone_best_time": None,
}


def _contact(answer: dict[str, Any]) -> dict[str, Any]:
    return {field: answer[field] for field in NO_CONTACT}


def test_set_at_enrolment_and_read_back_by_the_nurse_tidied(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, **CONTACT)
    patient = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers).json()
    assert _contact(patient) == {
        "phone": "+33 6 12 34 56 78",
        "phone_safe_to_call": True,
        "phone_leave_message": False,
        "phone_best_time": "weekdays after 18:00",
    }


def test_without_a_word_a_call_and_a_message_are_not_allowed(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, phone="0612345678")
    patient = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers).json()
    assert _contact(patient) == {**NO_CONTACT, "phone": "0612345678"}


def test_the_nurse_changes_it_without_touching_the_plan(client, factory, engine):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)

    def built_at() -> datetime:
        with Session(engine) as session:
            patient = session.get(Patient, uuid.UUID(enrolment.id))
            assert patient is not None
            return patient.plan_built_at

    built = built_at()
    answer = client.patch(
        f"/api/v1/patients/{enrolment.id}", json={"phone": "020 7946 0018"}, headers=nurse.headers
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["phone"] == "020 7946 0018"
    assert built_at() == built


def test_the_patient_adds_changes_and_removes_it(client, factory):
    nurse = factory.nurse()
    device = factory.patient_headers(factory.enrolment(nurse))
    assert _contact(client.patch("/api/v1/me", json={}, headers=device).json()) == NO_CONTACT

    added = client.patch("/api/v1/me", json=CONTACT, headers=device)
    assert added.status_code == 200, added.text
    assert added.json()["phone"] == "+33 6 12 34 56 78" and added.json()["phone_safe_to_call"]

    changed = client.patch("/api/v1/me", json={"phone_safe_to_call": False}, headers=device)
    assert changed.json()["phone"] == "+33 6 12 34 56 78"
    assert changed.json()["phone_safe_to_call"] is False
    assert changed.json()["phone_best_time"] == "weekdays after 18:00"

    removed = client.patch("/api/v1/me", json={"phone": None}, headers=device)
    assert _contact(removed.json()) == NO_CONTACT, "the rest goes with the number"


@pytest.mark.parametrize(
    "phone", ["call me", "12345", "+33 6 12 34 56 78 90 12 34", "06#1234567", "++336123456"]
)
def test_a_number_that_is_not_one_is_a_422_naming_the_field(client, factory, phone):
    nurse = factory.nurse()
    device = factory.patient_headers(factory.enrolment(nurse))
    answer = client.patch("/api/v1/me", json={"phone": phone}, headers=device)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "phone"]
    refused = client.post(
        "/api/v1/patients", json=factory.patient_body(phone=phone), headers=nurse.headers
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "phone"]


@given(st.text(alphabet="0123456789 +-().", max_size=40))
def test_a_kept_number_has_6_to_15_digits_and_tidy_spaces(text):
    try:
        kept = check_phone(text)
    except ValueError:
        return
    if kept is None:
        assert not text.strip()
        return
    assert 6 <= sum(c.isdigit() for c in kept) <= 15
    assert kept == kept.strip() and "  " not in kept
    assert [c for c in kept if c != " "] == [c for c in text if c != " "]


def test_the_export_carries_the_number_as_fhir_telecom(client, factory):
    nurse = factory.nurse()
    device = factory.patient_headers(
        factory.enrolment(nurse, email="cd@example.org", phone="0612345678")
    )
    bundle = client.get("/api/v1/me/export", headers=device).json()
    (patient,) = [
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    ]
    assert patient["telecom"] == [
        {"system": "email", "value": "cd@example.org"},
        {"system": "phone", "value": "0612345678"},
    ]


def test_erasing_the_patient_takes_the_number(client, factory, engine):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, **CONTACT)
    device = factory.patient_headers(enrolment)
    assert client.delete("/api/v1/me", headers=device).status_code == 204
    with Session(engine) as session:
        assert session.get(Patient, uuid.UUID(enrolment.id)) is None


def test_anonymising_the_patient_takes_the_number(client, factory, engine):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, **CONTACT)
    years_later = datetime(2027, 3, 26, tzinfo=UTC) + timedelta(days=3650)
    writer = client.app.state.writer  # the app's own: on SQLite, every write goes through it
    assert anonymise_due_patients(session_factory(engine), writer, years_later) == 1
    with Session(engine) as session:
        patient = session.get(Patient, uuid.UUID(enrolment.id))
        assert patient is not None and patient.anonymised_at is not None
        assert (patient.phone, patient.phone_safe_to_call, patient.phone_best_time) == (
            None,
            False,
            None,
        )
