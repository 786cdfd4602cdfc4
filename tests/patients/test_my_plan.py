"""GET /api/v1/me/plan: the frozen plan, in the patient's language and local time."""

import shutil
from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from aftercare.app import create_app
from aftercare.settings import SHIPPED_SCHEDULES_DIR

KINDS = {
    "rest", "medication", "hygiene", "activity", "wound-care",
    "follow-up", "education", "check-in", "milestone",
}  # fmt: skip


def _items(plan, **where):
    return [
        (day["day"], item)
        for day in plan["days"]
        for item in day["items"]
        if all(item[key] == value for key, value in where.items())
    ]


def test_the_plan_has_the_shape_of_the_contract(client, factory):
    patient = factory.patient_headers(factory.enrolment(factory.nurse(), language="fr"))
    plan = client.get("/api/v1/me/plan", headers=patient).json()
    assert (plan["protocol"], plan["timezone"], plan["language"]) == (
        "hymenoplasty", "Europe/Paris", "fr",
    )  # fmt: skip
    assert [d["day"] for d in plan["days"]] == list(range(1, 29))
    assert plan["days"][0]["date"] == "2027-03-26" and plan["days"][27]["date"] == "2027-04-22"
    ids = [item["id"] for _, item in _items(plan)]
    assert len(ids) == len(set(ids)), "an item id is unique within the plan"
    for _, item in _items(plan):
        assert {"id", "kind", "title", "detail", "time", "done"} <= set(item)
        assert item["kind"] in KINDS and item["done"] is False and item["title"]
        assert item["time"] is None or len(item["time"]) == 5


def test_the_hymenoplasty_plan_carries_what_the_clinic_says(client, factory):
    patient = factory.patient_headers(factory.enrolment(factory.nurse()))
    plan = client.get("/api/v1/me/plan", headers=patient).json()
    shower = _items(plan, kind="milestone")
    assert any(day == 2 and "lukewarm" in item["title"] for day, item in shower)
    painkillers = _items(plan, kind="medication")
    assert {day for day, _ in painkillers} == {1, 2, 3, 4, 5}
    assert all("as prescribed" in item["title"] and item["time"] is None for _, item in painkillers)
    rest_days = {day for day, _ in _items(plan, kind="rest")}
    assert {1, 2, 3} <= rest_days
    checkins = sorted(day for day, _ in _items(plan, kind="check-in"))
    assert checkins == [1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 21, 28]
    assert {day for day, _ in _items(plan, kind="follow-up")} <= set(range(7, 11))
    assert _items(plan, kind="education")


def test_the_evening_check_in_keeps_its_local_time_across_the_march_change(client, factory):
    patient = factory.patient_headers(factory.enrolment(factory.nurse()))
    plan = client.get("/api/v1/me/plan", headers=patient).json()
    by_day = {day: item for day, item in _items(plan, kind="check-in")}
    assert by_day[2]["time"] == by_day[4]["time"] == "19:00"
    assert by_day[2]["due_at"] == "2027-03-27T19:00:00+01:00"
    assert by_day[4]["due_at"] == "2027-03-29T19:00:00+02:00"


def test_the_plan_is_in_the_patients_language(client, factory):
    nurse = factory.nurse()
    for language, word in (("fr", "tiède"), ("tr", "ılık"), ("ar", "فاتر")):
        headers = factory.patient_headers(factory.enrolment(nurse, language=language))
        plan = client.get("/api/v1/me/plan", headers=headers).json()
        titles = " ".join(item["title"] for _, item in _items(plan, kind="milestone"))
        assert word in titles.lower(), (language, titles)


def test_the_check_in_moves_inside_a_short_wake_window(client, factory):
    enrolment = factory.enrolment(factory.nurse(), wake_time="06:00", sleep_time="18:00")
    plan = client.get("/api/v1/me/plan", headers=factory.patient_headers(enrolment)).json()
    assert {item["time"] for _, item in _items(plan, kind="check-in")} == {"17:30"}


def test_without_a_patient_token_the_plan_is_401(client, factory):
    nurse = factory.nurse()
    assert client.get("/api/v1/me/plan").status_code == 401
    assert client.get("/api/v1/me/plan", headers=nurse.headers).status_code == 401


def test_a_plan_is_frozen_at_enrolment_when_the_file_changes_later(
    tmp_path: Path, settings, engine, factory
):
    folder = tmp_path / "schedules"
    shutil.copytree(SHIPPED_SCHEDULES_DIR, folder)
    local = settings.model_copy(update={"schedules_dir": folder})
    with TestClient(create_app(local, engine)) as before:
        factory.client = before
        nurse = factory.nurse()
        early = factory.enrolment(nurse)
    hymenoplasty = folder / "hymenoplasty.yaml"
    text = hymenoplasty.read_text()
    edited = text.replace("version: 2", "version: 3").replace(
        "From today you may shower with lukewarm water", "Shower allowed from today"
    )
    assert edited != text
    hymenoplasty.write_text(edited)
    with TestClient(create_app(local, engine)) as after:
        factory.client = after
        late = factory.enrolment(nurse)
        early_plan = after.get(f"/api/v1/patients/{early.id}/plan", headers=nurse.headers).json()
        late_plan = after.get(f"/api/v1/patients/{late.id}/plan", headers=nurse.headers).json()
        early_patient = after.get(f"/api/v1/patients/{early.id}", headers=nurse.headers).json()
    assert early_plan["protocol_version"] == 2 and late_plan["protocol_version"] == 3
    assert early_patient["protocol_version"] == 2
    assert _items(early_plan, kind="milestone")[0][1]["title"].startswith("From today you may")
    assert _items(late_plan, kind="milestone")[0][1]["title"] == "Shower allowed from today"


def test_moving_the_surgery_rebuilds_the_plan(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    response = client.patch(
        f"/api/v1/patients/{enrolment.id}",
        json={"surgery_at": "2027-04-02T10:00:00+02:00", "sleep_time": "21:00"},
        headers=nurse.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["surgery_at"] == "2027-04-02T10:00:00+02:00"
    plan = client.get(f"/api/v1/patients/{enrolment.id}/plan", headers=nurse.headers).json()
    assert plan["days"][0]["date"] == "2027-04-02"
    assert date.fromisoformat(plan["days"][-1]["date"]) == date(2027, 4, 29)
    ids = [item["id"] for _, item in _items(plan)]
    assert len(ids) == len(set(ids)), "no duplicates after a rebuild"
    assert {item["time"] for _, item in _items(plan, kind="check-in")} == {"19:00"}


def test_a_bad_move_is_422_and_keeps_the_plan(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    url = f"/api/v1/patients/{enrolment.id}"
    for change in ({"surgery_at": "soon"}, {"wake_time": "20:00"}, {"timezone": None}):
        assert client.patch(url, json=change, headers=nurse.headers).status_code == 422
    plan = client.get(f"{url}/plan", headers=nurse.headers).json()
    assert plan["days"][0]["date"] == "2027-03-26"
    assert client.get(url, headers=nurse.headers).json()["wake_time"] == "08:00"


def test_ticking_an_item_off_and_undoing_it(client, factory):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    headers = factory.patient_headers(enrolment)
    plan = client.get("/api/v1/me/plan", headers=headers).json()
    item_id = next(i["id"] for i in plan["days"][1]["items"] if i["tickable"])
    url = f"/api/v1/me/plan/items/{item_id}/done"
    for _ in range(2):  # idempotent
        response = client.put(url, headers=headers)
        assert response.status_code == 200 and response.json() == {"id": item_id, "done": True}
    done = {
        i["id"]: i["done"]
        for d in client.get("/api/v1/me/plan", headers=headers).json()["days"]
        for i in d["items"]
    }
    assert done[item_id] is True and sum(done.values()) == 1
    nurse_view = client.get(f"/api/v1/patients/{enrolment.id}/plan", headers=nurse.headers).json()
    assert [i["done"] for d in nurse_view["days"] for i in d["items"] if i["id"] == item_id] == [
        True
    ]
    assert client.delete(url, headers=headers).status_code == 204
    assert client.delete(url, headers=headers).status_code == 204
    after = client.get("/api/v1/me/plan", headers=headers).json()
    assert not any(i["done"] for d in after["days"] for i in d["items"])
    assert client.put("/api/v1/me/plan/items/d99-nothing/done", headers=headers).status_code == 404
    assert client.put(url).status_code == 401


def test_reading_matter_milestones_and_the_check_in_are_not_ticked_by_hand(client, factory):
    nurse = factory.nurse()
    headers = factory.patient_headers(factory.enrolment(nurse))
    items = [i for d in client.get("/api/v1/me/plan", headers=headers).json()["days"]
             for i in d["items"]]  # fmt: skip
    untickable = {i["id"] for i in items if not i["tickable"]}
    kinds = {i["kind"] for i in items if not i["tickable"]}
    assert {"education", "milestone", "check-in"} <= kinds
    assert "d1-things-to-avoid" in untickable and "d1-go-home-rest" not in untickable
    for item_id in ("d1-check-in", "d2-shower-allowed", "d1-about-your-surgery"):
        url = f"/api/v1/me/plan/items/{item_id}/done"
        assert client.put(url, headers=headers).status_code == 409
        assert client.delete(url, headers=headers).status_code == 409
