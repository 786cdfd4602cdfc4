"""The nurse's patient routes: enrol, list, read, read the plan."""

import pytest

from aftercare.patients.codes import ALPHABET


def test_the_protocol_list_names_every_shipped_procedure(client, factory):
    nurse = factory.nurse()
    response = client.get("/api/v1/protocols", headers=nurse.headers)
    assert response.status_code == 200
    by_id = {p["id"]: p for p in response.json()}
    assert by_id["hymenoplasty"]["days"] == 28 and by_id["hymenoplasty"]["name"] == "Hymenoplasty"
    assert by_id["labiaplasty"]["days"] == 21
    assert "day-surgery" in by_id


def test_enrolling_returns_an_id_a_code_and_a_neutral_link(client, factory):
    nurse = factory.nurse()
    response = client.post("/api/v1/patients", json=factory.patient_body(), headers=nurse.headers)
    assert response.status_code == 201
    body = response.json()
    code = body["enrollment_code"]
    symbols = code.replace("-", "")
    assert len(symbols) == 10 and set(symbols) <= set(ALPHABET), "50 bits, easy to read aloud"
    assert body["enrollment_url"] == f"http://testserver/start/{code}"
    assert "hymen" not in body["enrollment_url"].lower()


def test_codes_differ_for_every_enrolment(factory):
    nurse = factory.nurse()
    codes = {factory.enrolment(nurse).code for _ in range(20)}
    assert len(codes) == 20


def test_the_patient_reads_back_as_enrolled(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, alias="  C.D. ", language="fr", email="cd@example.org")
    response = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers)
    assert response.status_code == 200
    patient = response.json()
    assert patient["alias"] == "C.D."
    assert patient["protocol"] == "hymenoplasty" and patient["days"] == 28
    assert patient["surgery_at"] == "2027-03-26T09:00:00+01:00"
    assert patient["timezone"] == "Europe/Paris" and patient["language"] == "fr"
    assert (patient["wake_time"], patient["sleep_time"]) == ("08:00", "22:00")
    assert patient["email"] == "cd@example.org"
    assert patient["enrolled"] is False


def test_wake_and_sleep_times_default_to_the_procedures(client, factory):
    nurse = factory.nurse()
    body = factory.patient_body()
    del body["wake_time"], body["sleep_time"]
    created = client.post("/api/v1/patients", json=body, headers=nurse.headers).json()
    patient = client.get(f"/api/v1/patients/{created['id']}", headers=nurse.headers).json()
    assert (patient["wake_time"], patient["sleep_time"]) == ("08:00", "22:00")


def test_the_recovery_day_counts_from_the_local_surgery_day(client, factory):
    import time_machine

    with time_machine.travel("2027-03-25T12:00:00+01:00", tick=False) as clock:
        nurse = factory.nurse()
        enrolment = factory.enrolment(nurse, surgery_at="2027-03-26T23:30:00+01:00")
        url = f"/api/v1/patients/{enrolment.id}"
        assert client.get(url, headers=nurse.headers).json()["day"] is None
        clock.move_to("2027-03-26T23:45:00+01:00")
        nurse = factory.nurse()  # a new shift: the first token has expired
        assert client.get(url, headers=nurse.headers).json()["day"] == 1
        # 00:30 in Paris on the 27th is still the 26th in UTC: the patient's zone decides.
        clock.move_to("2027-03-27T00:30:00+01:00")
        assert client.get(url, headers=nurse.headers).json()["day"] == 2


def test_the_list_holds_only_the_nurses_own_clinic(client, factory):
    north, south = factory.nurse("north"), factory.nurse("south")
    mine = factory.enrolment(north, alias="N.1")
    factory.enrolment(south, alias="S.1")
    items = client.get("/api/v1/patients", headers=north.headers).json()["items"]
    assert [item["id"] for item in items] == [mine.id]


def test_another_clinics_patient_is_404_as_if_it_did_not_exist(client, factory):
    north, south = factory.nurse("north"), factory.nurse("south")
    theirs = factory.enrolment(south)
    for path in (f"/api/v1/patients/{theirs.id}", f"/api/v1/patients/{theirs.id}/plan"):
        response = client.get(path, headers=north.headers)
        assert response.status_code == 404
        assert client.get(path.replace(theirs.id, "00000000-0000-4000-8000-000000000000"),
                          headers=north.headers).json() == response.json()  # fmt: skip


def test_the_plan_as_the_nurse_sees_it(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    plan = client.get(f"/api/v1/patients/{enrolment.id}/plan", headers=nurse.headers).json()
    assert plan["protocol"] == "hymenoplasty" and plan["timezone"] == "Europe/Paris"
    assert [day["day"] for day in plan["days"]] == list(range(1, 29))
    assert plan["days"][0]["date"] == "2027-03-26"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"protocol": "rhinoplasty"}, "protocol"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"language": "de"}, "language"),
        ({"surgery_at": "2027-03-26T09:00:00"}, "surgery_at"),
        ({"surgery_at": "next tuesday"}, "surgery_at"),
        ({"alias": ""}, "alias"),
        ({"alias": "x" * 41}, "alias"),
        ({"wake_time": "25:00"}, "wake_time"),
        ({"wake_time": "20:00", "sleep_time": "22:00"}, None),
        ({"sleep_time": "09:00", "wake_time": None}, "sleep_time"),
        ({"email": "not-an-address"}, "email"),
        (
            {"prescribed": [{"title": "Antibiotic", "days": "1-40", "time": "08:00"}]},
            "prescribed.0.days",
        ),
        ({"prescribed": [{"title": "Antibiotic", "days": "1-5", "time": "8am"}]}, "prescribed"),
    ],
)
def test_bad_enrolments_are_422_naming_the_field_and_store_nothing(client, factory, change, field):
    nurse = factory.nurse()
    response = client.post(
        "/api/v1/patients", json=factory.patient_body(**change), headers=nurse.headers
    )
    assert response.status_code == 422, response.text
    locations = [".".join(map(str, error["loc"][1:])) for error in response.json()["detail"]]
    if field is not None:
        assert any(location.startswith(field) for location in locations), locations
    assert client.get("/api/v1/patients", headers=nurse.headers).json() == {"items": []}


@pytest.mark.parametrize("body", ["{", "[]", "null", '{"alias": 3}'])
def test_a_malformed_body_is_422_never_500(client, factory, body):
    nurse = factory.nurse()
    response = client.post(
        "/api/v1/patients",
        content=body,
        headers={**nurse.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_prescribed_items_join_the_frozen_plan(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(
        nurse,
        language="fr",
        prescribed=[{"title": "Antibiotique", "days": "1-5", "time": ["08:00", "20:00"]}],
    )
    plan = client.get(f"/api/v1/patients/{enrolment.id}/plan", headers=nurse.headers).json()
    antibiotic = [
        (day["day"], item["time"])
        for day in plan["days"]
        for item in day["items"]
        if item["title"] == "Antibiotique"
    ]
    assert antibiotic == [(d, t) for d in range(1, 6) for t in ("08:00", "20:00")]
