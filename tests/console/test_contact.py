"""The phone number in the console (issue 13, item 3): set at enrolment and on the
patient page, a Call link on the queue card only when calling is safe, and the
patient's own Settings to add, change or remove it."""

import re
import uuid

from sqlmodel import Session

from aftercare.patients.models import Patient
from tests.console.conftest import Console, csrf_of
from tests.console.test_queue import cards, flag, patient
from tests.factories import Factory

SAFE = {
    "phone": "+33 6 12 34 56 78",
    "phone_safe_to_call": True,
    "phone_leave_message": False,
    "phone_best_time": "after 18:00",
}


def _stored(engine, patient_id: str) -> tuple[object, ...]:
    with Session(engine) as session:
        row = session.get(Patient, uuid.UUID(patient_id))
        assert row is not None
        return (row.phone, row.phone_safe_to_call, row.phone_leave_message, row.phone_best_time)


def test_the_card_has_a_call_link_only_when_calling_is_safe(console: Console, factory: Factory):
    safe = patient(factory, console.nurse, "SAFE")
    unsafe = patient(factory, console.nurse, "UNSAFE")
    silent = patient(factory, console.nurse, "NONUMBER")
    console.client.patch("/api/v1/me", json=SAFE, headers=safe)
    console.client.patch(
        "/api/v1/me", json={**SAFE, "phone_safe_to_call": False, "phone": "0612345678"},
        headers=unsafe,
    )  # fmt: skip
    for headers in (safe, unsafe, silent):
        flag(console.client, headers, temperature_c=38.6)

    by_alias = {alias: html for _, alias, html in cards(console.client.get("/console").text)}
    assert 'href="tel:+33612345678"' in by_alias["SAFE"]
    assert "Do not leave a message" in by_alias["SAFE"] and "after 18:00" in by_alias["SAFE"]
    assert "tel:" not in by_alias["UNSAFE"] and "0612345678" not in by_alias["UNSAFE"]
    assert "Not safe to call" in by_alias["UNSAFE"]
    assert "tel:" not in by_alias["NONUMBER"] and "Not safe to call" not in by_alias["NONUMBER"]


def test_the_nurse_sets_it_at_enrolment(console: Console, engine):
    page = console.client.get("/console/enrol")
    form = {
        "csrf_token": csrf_of(page.text), "alias": "T.N.", "protocol": "hymenoplasty",
        "language": "en", "surgery_date": "2027-03-26", "surgery_time": "09:00",
        "timezone": "Europe/Paris", "wake_time": "08:00", "sleep_time": "22:00",
        "phone": " 06 12 34 56 78 ", "phone_safe_to_call": "on", "phone_best_time": "",
    }  # fmt: skip
    answer = console.client.post("/console/enrol", data=form, follow_redirects=False)
    assert answer.status_code == 200, answer.text
    (patient_id,) = re.findall(r'href="/console/patients/([0-9a-f-]{36})"', answer.text)[:1]
    assert _stored(engine, patient_id) == ("06 12 34 56 78", True, False, None)


def test_a_wrong_number_at_enrolment_is_named_in_the_nurses_language(console: Console):
    page = console.client.get("/console/enrol")
    form = {
        "csrf_token": csrf_of(page.text), "alias": "T.N.", "protocol": "hymenoplasty",
        "language": "en", "surgery_date": "2027-03-26", "surgery_time": "09:00",
        "timezone": "Europe/Paris", "phone": "call me",
    }  # fmt: skip
    answer = console.client.post(
        "/console/enrol", data=form, headers={"Accept-Language": "fr"}, follow_redirects=False
    )
    assert answer.status_code == 422
    assert 'id="error-phone"' in answer.text
    assert "numéro" in answer.text


def test_the_patient_page_shows_it_and_the_nurse_changes_it(console: Console, factory, engine):
    enrolment = factory.enrolment(console.nurse, **SAFE)
    page = console.client.get(f"/console/patients/{enrolment.id}").text
    assert 'href="tel:+33612345678"' in page and "Best time: after 18:00" in page

    saved = console.post(
        f"/console/patients/{enrolment.id}/contact",
        phone="0612345678", phone_leave_message="on", phone_best_time="",
    )  # fmt: skip
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=contact-saved")
    # The box left unticked is a no: calling is not safe any more.
    assert _stored(engine, enrolment.id) == ("0612345678", False, True, None)
    page = console.client.get(f"/console/patients/{enrolment.id}").text
    assert "tel:" not in page and "Not safe to call" in page

    wrong = console.post(f"/console/patients/{enrolment.id}/contact", phone="12")
    assert wrong.status_code == 422 and 'id="error-phone"' in wrong.text
    assert _stored(engine, enrolment.id) == ("0612345678", False, True, None), "nothing lost"


def test_the_patient_adds_and_removes_the_number_in_settings(client, factory, engine):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": csrf_of(client.get(path).text)})  # the phone signs in
    settings = client.get("/settings")
    assert settings.status_code == 200 and "If your clinic needs to call you" in settings.text
    csrf = csrf_of(settings.text)

    added = client.post(
        "/settings/phone",
        data={"csrf_token": csrf, "number": "+90 532 123 45 67", "safe": "on", "best_time": ""},
    )
    assert added.status_code == 200 and "Saved." in added.text
    assert _stored(engine, enrolment.id) == ("+90 532 123 45 67", True, False, None)

    wrong = client.post("/settings/phone", data={"csrf_token": csrf, "number": "abc"})
    assert wrong.status_code == 422 and 'id="phone-error"' in wrong.text
    assert _stored(engine, enrolment.id) == ("+90 532 123 45 67", True, False, None)

    removed = client.post(
        "/settings/phone", data={"csrf_token": csrf, "number": "+90 532", "remove": "1"}
    )
    assert removed.status_code == 200
    assert _stored(engine, enrolment.id) == (None, False, False, None)
