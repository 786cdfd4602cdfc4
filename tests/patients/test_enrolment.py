"""POST /api/v1/enroll: a one-time code becomes a device token."""

from concurrent.futures import ThreadPoolExecutor

import time_machine


def test_a_code_opens_a_device_session_that_reads_the_plan(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    response = client.post("/api/v1/enroll", json={"code": enrolment.code})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["patient_id"] == enrolment.id
    plan = client.get(
        "/api/v1/me/plan", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert plan.status_code == 200
    patient = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers).json()
    assert patient["enrolled"] is True


def test_a_code_typed_in_lower_case_without_its_dash_still_works(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    typed = enrolment.code.replace("-", " ").lower()
    assert client.post("/api/v1/enroll", json={"code": typed}).status_code == 200


def test_a_code_works_once(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 200
    again = client.post("/api/v1/enroll", json={"code": enrolment.code})
    assert again.status_code == 400
    assert "ask the clinic for a new one" in again.json()["detail"]


def test_a_code_expires_after_fourteen_days(client, factory):
    with time_machine.travel("2027-03-01T10:00:00Z", tick=False) as clock:
        enrolment = factory.enrolment(factory.nurse())
        clock.move_to("2027-03-15T10:00:01Z")
        assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 400


def test_a_code_still_works_just_before_it_expires(client, factory):
    with time_machine.travel("2027-03-01T10:00:00Z", tick=False) as clock:
        enrolment = factory.enrolment(factory.nurse())
        clock.move_to("2027-03-15T09:59:00Z")
        assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 200


def test_unknown_codes_and_bad_bodies(client):
    assert client.post("/api/v1/enroll", json={"code": "ZZZZZ-ZZZZZ"}).status_code == 400
    for body in ({}, {"code": ""}, {"code": 12345}, {"code": "x" * 41}):
        response = client.post("/api/v1/enroll", json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][:2] == ["body", "code"]


def test_guessing_codes_is_stopped_with_429(client, factory, settings):
    enrolment = factory.enrolment(factory.nurse())
    for attempt in range(settings.max_auth_failures):
        assert (
            client.post("/api/v1/enroll", json={"code": f"AAAAA-{attempt:05d}"}).status_code == 400
        )
    blocked = client.post("/api/v1/enroll", json={"code": enrolment.code})
    assert blocked.status_code == 429


def test_two_devices_racing_with_one_code_get_one_session(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code,
                range(8),
            )
        )
    assert sorted(statuses) == [200] + [400] * 7
