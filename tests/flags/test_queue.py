"""The flag queue through HTTP: worst first, own clinic only, acknowledge then resolve."""

from sqlmodel import Session, select

from aftercare.audit.models import AuditEvent
from tests.checkins.test_api import body, enrol


def _flag_ids(client, nurse, status="open"):
    response = client.get(f"/api/v1/flags?status={status}", headers=nurse.headers)
    assert response.status_code == 200
    return response.json()["items"]


def test_the_queue_is_red_before_amber_then_oldest_first(client, factory):
    nurse = factory.nurse()
    patient = enrol(factory, nurse)
    sent = []
    for changes in ({"pain": 7}, {"pain": 9}, {"wants_contact": True}, {"bleeding": "heavy"}):
        response = client.post("/api/v1/me/checkins", json=body(**changes), headers=patient)
        sent.append((response.json()["id"], response.json()["severity"]))
    items = _flag_ids(client, nurse)
    assert [item["severity"] for item in items] == ["red", "red", "amber", "amber"]
    reds = [checkin for checkin, severity in sent if severity == "red"]
    ambers = [checkin for checkin, severity in sent if severity == "amber"]
    assert [item["checkin_id"] for item in items] == reds + ambers, "oldest first within a severity"
    first = items[0]
    assert first["status"] == "open" and first["patient_alias"] == "A.B."
    assert [reason["code"] for reason in first["reasons"]] == ["severe-pain"]
    assert "9" in first["reasons"][0]["message"], "the reason names the answer"


def test_reasons_are_worded_in_the_nurses_language(client, factory):
    nurse = factory.nurse()
    patient = enrol(factory, nurse, language="ar")
    client.post("/api/v1/me/checkins", json=body(temperature_c=38.6), headers=patient)
    french = client.get("/api/v1/flags", headers={**nurse.headers, "Accept-Language": "fr"})
    english = client.get("/api/v1/flags", headers=nurse.headers)
    assert french.json()["items"][0]["reasons"][0]["message"] == "Température 38.6 °C"
    assert english.json()["items"][0]["reasons"][0]["message"] == "Temperature 38.6 °C"


def test_a_calm_check_in_raises_no_flag(client, factory):
    nurse = factory.nurse()
    client.post("/api/v1/me/checkins", json=body(), headers=enrol(factory, nurse))
    assert _flag_ids(client, nurse) == []


def test_a_nurse_sees_and_touches_only_her_own_clinics_flags(client, factory):
    north, south = factory.nurse("north"), factory.nurse("south")
    client.post("/api/v1/me/checkins", json=body(pain=9), headers=enrol(factory, north))
    (flag,) = _flag_ids(client, north)
    assert _flag_ids(client, south) == []
    for action, payload in (("acknowledge", None), ("resolve", {"note": "called"})):
        response = client.post(
            f"/api/v1/flags/{flag['id']}/{action}", json=payload, headers=south.headers
        )
        assert response.status_code == 404
    assert _flag_ids(client, north)[0]["status"] == "open"


def test_acknowledge_then_resolve_with_a_note(client, factory, engine):
    nurse = factory.nurse(email="ines@north.example")
    client.post("/api/v1/me/checkins", json=body(pain=9), headers=enrol(factory, nurse))
    (flag,) = _flag_ids(client, nurse)
    acknowledged = client.post(f"/api/v1/flags/{flag['id']}/acknowledge", headers=nurse.headers)
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by"] == "ines@north.example"
    again = client.post(f"/api/v1/flags/{flag['id']}/acknowledge", headers=nurse.headers)
    assert again.status_code == 200 and again.json() == acknowledged.json(), "twice changes nothing"
    assert _flag_ids(client, nurse) == []
    assert [f["id"] for f in _flag_ids(client, nurse, "acknowledged")] == [flag["id"]]

    resolved = client.post(
        f"/api/v1/flags/{flag['id']}/resolve", json={"note": "Called: advised to come in"},
        headers=nurse.headers,
    )  # fmt: skip
    assert resolved.status_code == 200
    done = resolved.json()
    assert done["status"] == "resolved" and done["resolution_note"] == "Called: advised to come in"
    assert done["resolved_by"] == "ines@north.example" and done["resolved_at"]
    assert [f["id"] for f in _flag_ids(client, nurse, "resolved")] == [flag["id"]]
    with Session(engine) as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.subject == "flag")).all()
    assert actions == ["flag.acknowledge", "flag.resolve"]


def test_a_resolved_flag_is_never_reopened(client, factory):
    nurse = factory.nurse()
    client.post("/api/v1/me/checkins", json=body(pain=9), headers=enrol(factory, nurse))
    (flag,) = _flag_ids(client, nurse)
    url = f"/api/v1/flags/{flag['id']}"
    assert (
        client.post(
            f"{url}/resolve", json={"note": "no action needed"}, headers=nurse.headers
        ).status_code
        == 200
    )
    assert client.post(f"{url}/acknowledge", headers=nurse.headers).status_code == 409
    assert (
        client.post(f"{url}/resolve", json={"note": "again"}, headers=nurse.headers).status_code
        == 409
    )
    assert _flag_ids(client, nurse, "resolved")[0]["resolution_note"] == "no action needed"


def test_resolving_straight_from_open_also_records_who_took_it(client, factory):
    nurse = factory.nurse()
    client.post("/api/v1/me/checkins", json=body(pain=7), headers=enrol(factory, nurse))
    (flag,) = _flag_ids(client, nurse)
    done = client.post(
        f"/api/v1/flags/{flag['id']}/resolve", json={"note": "ok"}, headers=nurse.headers
    )
    assert done.json()["acknowledged_at"] == done.json()["resolved_at"]


def test_bad_flag_requests(client, factory):
    nurse = factory.nurse()
    client.post("/api/v1/me/checkins", json=body(pain=9), headers=enrol(factory, nurse))
    (flag,) = _flag_ids(client, nurse)
    url = f"/api/v1/flags/{flag['id']}/resolve"
    for payload in ({}, {"note": ""}, {"note": "x" * 2001}):
        response = client.post(url, json=payload, headers=nurse.headers)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "note"
    assert client.get("/api/v1/flags?status=closed", headers=nurse.headers).status_code == 422
    assert (
        client.post("/api/v1/flags/not-a-uuid/acknowledge", headers=nurse.headers).status_code
        == 422
    )
    assert client.get("/api/v1/flags").status_code == 401
    assert _flag_ids(client, nurse)[0]["status"] == "open"
