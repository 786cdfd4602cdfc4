"""The check-in pages through HTTP, as a phone without JavaScript (or its service worker)
uses them: the answer on a page of its own, opened again from History, and replays."""

import re
import uuid
from datetime import UTC, datetime, timedelta

from tests.patients.test_pages import CALM, _checkin, _csrf, _signed_in

JSON = {"Accept": "application/json"}


def _form(client, **changes) -> dict[str, str]:
    page = client.get("/checkin").text
    return {**CALM, "csrf_token": _csrf(page), "id": str(uuid.uuid4()),
            "recorded_at": datetime.now(UTC).isoformat(), **changes}  # fmt: skip


def test_the_form_answers_with_a_page_of_its_own_which_history_opens_again(client, factory):
    _signed_in(client, factory)
    response, sent = _checkin(client, pain="9")
    assert response.history[0].status_code == 303, "Post/Redirect/Get: Back never resends"
    answer_path = f"/checkins/{sent['id']}"
    assert response.url.path == answer_path
    assert "<h1>Please call now</h1>" in response.text
    assert re.search(r"Your answers from \d\d:\d\d, Day 3", response.text)
    assert response.headers["cache-control"] == "no-store"
    history = client.get("/history").text
    assert f'href="{answer_path}"' in history
    assert client.get(answer_path).status_code == 200


def test_another_patients_answer_is_not_found(client, factory):
    _signed_in(client, factory)
    _response, sent = _checkin(client)
    client.cookies.clear()
    _signed_in(client, factory)
    assert client.get(f"/checkins/{sent['id']}").status_code == 404
    assert client.get(f"/checkins/{uuid.uuid4()}").status_code == 404


def test_a_contact_request_links_to_messages(client, factory):
    _signed_in(client, factory)
    response, _ = _checkin(client, wants_contact="true")
    assert "<h1>A nurse will contact you</h1>" in response.text
    assert 'class="contact-request"' in response.text and 'href="/messages"' in response.text


def test_a_replayed_check_in_gets_its_answer_as_json_and_today_keeps_it_until_read(client, factory):
    _signed_in(client, factory)
    form = _form(client, pain="9")
    first = client.post("/checkin", data=form, headers=JSON)
    assert first.status_code == 201 and first.json()["severity"] == "red"
    again = client.post("/checkin", data=form, headers=JSON)
    assert again.status_code == 200 and again.json() == first.json(), "stored once"
    today = client.get("/today").text
    assert "reached the clinic" in today and "I have read this" in today
    seen = client.post(
        f"/checkins/{form['id']}/seen", data={"csrf_token": form["csrf_token"]},
        follow_redirects=False,
    )  # fmt: skip
    assert seen.status_code == 303
    assert "reached the clinic" not in client.get("/today").text
    assert "Checked in at" in client.get("/today").text


def test_one_id_with_other_answers_is_a_check_in_of_its_own_and_stays_single(client, factory):
    _signed_in(client, factory)
    form = _form(client)
    assert client.post("/checkin", data=form, headers=JSON).status_code == 201
    changed = {**form, "pain": "5"}
    renamed = client.post("/checkin", data=changed, headers=JSON)
    assert renamed.status_code == 201
    assert renamed.json()["id"] != form["id"]
    resent = client.post("/checkin", data=changed, headers=JSON)
    assert resent.status_code == 200 and resent.json()["id"] == renamed.json()["id"]
    assert len(client.get("/history").text.split('href="/checkins/')) == 3


def test_a_replayed_check_in_with_a_wrong_clock_is_kept(client, factory):
    _signed_in(client, factory)
    form = _form(client, recorded_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert client.post("/checkin", data=form, headers=JSON).status_code == 201


def test_a_malformed_replay_is_422_naming_fields_not_values(client, factory):
    _signed_in(client, factory)
    form = _form(client, pain="eleven", note="private words")
    response = client.post("/checkin", data=form, headers=JSON)
    assert response.status_code == 422
    assert response.json() == {"detail": ["pain"]}


def test_today_names_the_next_check_in_and_ticks_the_check_in_by_checking_in(client, factory):
    _signed_in(client, factory)
    today = client.get("/today").text
    assert "Next check-in:" in today
    assert 'data-item="d3-check-in"' not in today, "no hand tick for the check-in"
    _checkin(client)
    today = client.get("/today").text
    assert "Checked in at" in today and "Check in again" in today
    token = _csrf(today)
    for item in ("d3-check-in", "d3-warning-signs", "d3-things-to-avoid"):
        refused = client.post("/today/done", data={"csrf_token": token, "item": item, "done": "1"})
        assert refused.status_code == 409, item


def test_a_tick_keeps_the_phones_time_when_it_can_be_believed(client, factory, engine):
    from sqlmodel import Session, select

    from aftercare.plans.models import PlanItem

    _signed_in(client, factory)
    token = _csrf(client.get("/today").text)
    tapped = datetime.now(UTC) - timedelta(minutes=3)  # offline since, say, just after enrolment
    for item, at in (("d3-shower", tapped.isoformat()), ("d3-stitches", "2099-01-01T00:00:00Z")):
        data = {"csrf_token": token, "item": item, "done": "1", "at": at}
        assert client.post("/today/done", data=data, headers=JSON).status_code == 204
    with Session(engine) as session:
        done = {row.key: row.done_at for row in session.exec(select(PlanItem)) if row.done_at}
    assert abs(done["d3-shower"] - tapped) < timedelta(seconds=1)
    assert abs(done["d3-stitches"] - datetime.now(UTC)) < timedelta(minutes=5), "a wrong clock"


def test_my_plan_has_every_days_date_its_details_and_opens_at_today(client, factory):
    _signed_in(client, factory)
    plan = client.get("/plan").text
    assert plan.count('<h2 id="day-') == 28
    assert 'id="today"' in plan and 'href="#today"' in plan
    assert re.search(r'id="day-3">Day 3 of 28 <span class="when">\w{3}, \w{3} \d+ · Today', plan)
    assert plan.count('<details class="plan-detail">') > 28, "each detail can be opened"
    assert "About your surgery" in plan


def test_patient_pages_and_the_link_page_are_never_stored(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    start = client.get(enrolment.url.removeprefix("http://testserver"))
    assert start.headers["cache-control"] == "no-store"
    _signed_in(client, factory)
    for path in ("/today", "/plan", "/checkin", "/history", "/messages", "/settings", "/saved"):
        assert client.get(path).headers["cache-control"] == "no-store", path
