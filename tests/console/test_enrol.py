"""Enrolling a patient from the console: the form, the code to hand over, the errors."""

import re
from typing import Any

import pytest
from sqlmodel import Session, select

from aftercare.accounts.models import Clinic
from aftercare.audit.models import AuditEvent


def enrol_fields(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "alias": "K.L.",
        "protocol": "hymenoplasty",
        "surgery_date": "2027-03-26",
        "surgery_time": "09:30",
        "timezone": "Europe/Paris",
        "language": "tr",
        "wake_time": "07:00",
        "sleep_time": "23:00",
        "email": "",
        "item_title": ["Antibiotic", "", ""],
        "item_days": ["1-5", "", ""],
        "item_times": ["08:00, 20:00", "", ""],
        "item_reminder": ["0"],
    }
    fields.update(changes)
    return fields


def code_on(html: str) -> str:
    match = re.search(r'<span class="code-text">([0-9A-Z]{5}-[0-9A-Z]{5})</span>', html)
    assert match, html
    return match.group(1)


def test_the_form_offers_the_procedures_every_zone_and_the_clinics_zone(console, engine):
    with Session(engine) as session:
        clinic = session.exec(select(Clinic)).one()
        clinic.timezone = "Europe/Istanbul"
        session.add(clinic)
        session.commit()
    page = console.client.get("/console/enrol", headers={"Accept-Language": "fr"})
    assert page.status_code == 200
    html = page.text
    assert '<option value="hymenoplasty" data-wake="' in html
    assert "Hyménoplastie" in html  # the procedure's name in the browser's language
    assert '<datalist id="zones">' in html and '<option value="America/Argentina/Salta">' in html
    assert 'list="zones"' in html and 'name="timezone" value="Europe/Istanbul"' in html
    for code in ("en", "fr", "ar", "tr"):
        assert f'<option value="{code}" lang="{code}"' in html
    assert html.count('name="item_title"') == 3
    # Every input has a label.
    for input_id in re.findall(r'<(?:input|select) [^>]*id="([^"]+)"', html):
        assert f'for="{input_id}"' in html, input_id


def test_enrolling_shows_a_code_that_works_with_its_link_and_qr(console, client, engine):
    response = console.post("/console/enrol", **enrol_fields())
    assert response.status_code == 200, response.text
    code = code_on(response.text)
    assert f"http://testserver/start/{code}" in response.text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in response.text
    assert "<?xml" not in response.text and "Print" in response.text
    patient_link = re.search(r'href="/console/patients/([0-9a-f-]{36})"', response.text)
    assert patient_link

    with Session(engine) as session:
        (row,) = session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.enrolled")
        ).all()
    assert row.subject_id == patient_link.group(1) and row.client == "testclient"

    phone = client.post("/api/v1/enroll", json={"code": code})
    assert phone.status_code == 200 and phone.json()["patient_id"] == patient_link.group(1)
    headers = {"Authorization": f"Bearer {phone.json()['access_token']}"}
    plan = client.get("/api/v1/me/plan", headers=headers).json()
    assert plan["language"] == "tr" and plan["timezone"] == "Europe/Paris"
    assert plan["days"][0]["date"] == "2027-03-26"
    antibiotic = [
        (day["day"], item["time"])
        for day in plan["days"]
        for item in day["items"]
        if item["title"] == "Antibiotic"
    ]
    assert antibiotic == [(day, at) for day in range(1, 6) for at in ("08:00", "20:00")]
    nurse_view = client.get(
        f"/api/v1/patients/{patient_link.group(1)}", headers=console.nurse.headers
    )
    assert nurse_view.json()["wake_time"] == "07:00"
    assert nurse_view.json()["surgery_at"] == "2027-03-26T09:30:00+01:00"


def test_empty_hours_take_the_procedures_and_as_needed_items_have_no_time(console, client):
    response = console.post(
        "/console/enrol",
        **enrol_fields(
            wake_time="", sleep_time="", item_times=["as needed", "", ""], item_reminder=[]
        ),
    )
    assert response.status_code == 200, response.text
    patient_id = re.search(r'href="/console/patients/([0-9a-f-]{36})"', response.text)
    assert patient_id
    patient = client.get(f"/api/v1/patients/{patient_id.group(1)}", headers=console.nurse.headers)
    assert patient.json()["wake_time"] == "08:00" and patient.json()["sleep_time"] == "22:00"
    plan = client.get(
        f"/api/v1/patients/{patient_id.group(1)}/plan", headers=console.nurse.headers
    ).json()
    items = [item for day in plan["days"] for item in day["items"] if item["title"] == "Antibiotic"]
    assert len(items) == 5 and all(item["timing"] == "as-needed" for item in items)


@pytest.mark.parametrize(
    ("changes", "wrong"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"alias": ""}, "alias"),
        ({"alias": "   "}, "alias"),
        ({"item_days": ["5-1", "", ""]}, "prescribed-0-days"),
        ({"item_days": ["whenever", "", ""]}, "prescribed-0-days"),
        # Within the days of the plan, which the service checks against the procedure.
        ({"item_days": ["1-40", "", ""]}, "prescribed-0-days"),
        ({"item_title": ["", "Drops", ""], "item_days": ["", "two", ""],
          "item_times": ["", "09:00", ""]}, "prescribed-1-days"),
        ({"item_times": ["8 o'clock", "", ""]}, "prescribed-0-times"),
        ({"item_title": ["", "", ""]}, "prescribed-0-title"),
        ({"surgery_date": "tomorrow"}, "surgery_date"),
        ({"surgery_time": ""}, "surgery_time"),
        ({"protocol": "unknown"}, "protocol"),
        ({"language": "de"}, "language"),
        ({"wake_time": "21:00", "sleep_time": "22:00"}, "sleep_time"),
        ({"wake_time": "seven"}, "wake_time"),
        ({"email": "not-an-address"}, "email"),
    ],
)  # fmt: skip
def test_a_wrong_field_shows_the_form_again_with_422_naming_it(console, client, changes, wrong):
    fields = enrol_fields(**changes)
    response = console.post("/console/enrol", **fields)
    assert response.status_code == 422, response.text
    html = response.text
    assert f'<span class="field-error" id="error-{wrong}">' in html
    assert f'id="{wrong}"' in html  # next to the field it is about
    assert re.search(rf'id="{wrong}"[^>]*aria-invalid="true"', html)
    assert "The patient was not enrolled" in html
    # Everything typed is kept.
    for name in ("alias", "surgery_date", "surgery_time", "wake_time", "sleep_time", "email"):
        if fields[name].strip():
            assert f'name="{name}" value="{fields[name]}"' in html, name
    assert f'name="timezone" value="{fields["timezone"]}"' in html
    for typed in fields["item_days"] + fields["item_times"]:
        if typed:
            assert f'value="{typed}"'.replace("'", "&#39;") in html
    assert client.get("/api/v1/patients", headers=console.nurse.headers).json()["items"] == []


def test_several_wrong_fields_are_all_named_at_once(console):
    response = console.post(
        "/console/enrol", **enrol_fields(alias="", timezone="Nowhere", item_days=["0-3", "", ""])
    )
    assert response.status_code == 422
    for wrong in ("alias", "timezone", "prescribed-0-days"):
        assert f'id="error-{wrong}"' in response.text


def test_the_enrol_form_refuses_a_missing_or_wrong_csrf_token(console, client):
    console.client.get("/console/enrol")
    missing = console.client.post("/console/enrol", data=enrol_fields())
    forged = console.client.post("/console/enrol", data={**enrol_fields(), "csrf_token": "forged"})
    assert missing.status_code == 403 and forged.status_code == 403
    assert client.get("/api/v1/patients", headers=console.nurse.headers).json()["items"] == []


def test_the_enrolled_patient_belongs_to_the_nurses_clinic_only(console, factory, client):
    response = console.post("/console/enrol", **enrol_fields())
    patient_id = re.search(r'href="/console/patients/([0-9a-f-]{36})"', response.text)
    assert patient_id
    other = factory.nurse(clinic="south")
    assert (
        client.get(f"/api/v1/patients/{patient_id.group(1)}", headers=other.headers).status_code
        == 404
    )
    assert console.client.get(f"/console/patients/{patient_id.group(1)}").status_code == 200


def test_enrolling_needs_a_signed_in_nurse(client):
    assert client.get("/console/enrol", follow_redirects=False).status_code == 303
    response = client.post("/console/enrol", data=enrol_fields(), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
