"""Waking hours in Settings (page and API), and where a test notification went."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import text
from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent
from aftercare.patients.models import Patient
from aftercare.plans.models import PlanItem
from aftercare.reminders.models import PushSubscription, Reminder
from tests.patients.test_more_pages import _subscription
from tests.patients.test_pages import _csrf
from tests.reminders.test_dispatcher import ENROLLED, _enrol

PARIS = ZoneInfo("Europe/Paris")
# The day before surgery (2027-03-26 09:00 in Paris): every check-in is still ahead.
NOW = ENROLLED + timedelta(hours=1)


def _plan_reminders(engine) -> list[tuple[str, str, datetime]]:
    """The waiting plan reminders as (item, channel, local due time in Paris)."""
    with Session(engine) as session:
        rows = session.exec(
            select(Reminder)
            .where(Reminder.purpose == "plan-item", Reminder.status == "pending")
            .order_by(col(Reminder.due_at), col(Reminder.channel))
        ).all()
    return [(row.item_key or "", row.channel, row.due_at.astimezone(PARIS)) for row in rows]


def _patient(engine) -> Patient:
    with Session(engine) as session:
        patient = session.exec(select(Patient)).one()
        session.expunge(patient)
        return patient


def _phone(client, factory, **changes):
    """A phone signed in by cookie the day before surgery; the enrolment and its nurse."""
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, **changes)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    return enrolment, nurse


def _status(html: str) -> str:
    """The text of the page's confirmations, tags removed."""
    found = re.findall(r'<(p|div) class="answer" role="status">(.*?)</\1>', html, re.S)
    return " ".join(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part)) for _, part in found)


def _hours(client, wake: str, sleep: str, token: str | None = None):
    token = token or _csrf(client.get("/settings").text)
    return client.post(
        "/settings/hours", data={"csrf_token": token, "wake_time": wake, "sleep_time": sleep}
    )


@time_machine.travel(NOW, tick=False)
def test_new_waking_hours_move_the_reminders_and_keep_the_ticks(client, factory, engine):
    enrolment, nurse = _phone(client, factory)
    page = client.get("/settings")
    assert 'type="time" name="wake_time" value="08:00"' in page.text
    assert 'type="time" name="sleep_time" value="22:00"' in page.text
    assert "Reminders come only between these times" in page.text
    tick = {"csrf_token": _csrf(page.text), "item": "d3-shower", "done": "1"}
    assert client.post("/today/done", data=tick, follow_redirects=False).status_code == 303
    before = _plan_reminders(engine)
    assert before and {(due.hour, due.minute) for _, _, due in before} == {(19, 0)}

    response = _hours(client, "06:00", "18:00")

    assert response.status_code == 200
    assert "Saved. Reminders now come between 06:00 and 18:00." in _status(response.text)
    assert 'name="wake_time" value="06:00"' in response.text
    after = _plan_reminders(engine)
    # The same reminders on the same days, now before the new bedtime (less half an hour).
    assert [(key, channel, due.date()) for key, channel, due in after] == [
        (key, channel, due.date()) for key, channel, due in before
    ]
    assert {(due.hour, due.minute) for _, _, due in after} == {(17, 30)}
    with Session(engine) as session:
        checkins = session.exec(select(PlanItem.local_time).where(PlanItem.kind == "check-in"))
        assert set(checkins) == {"17:30"}
        done = session.exec(select(PlanItem.key).where(col(PlanItem.done_at).is_not(None)))
        assert list(done) == ["d3-shower"], "a tick survives the rebuild"
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.settings")
        ).all()
    assert [
        (event.actor, event.detail["hours_before"], event.detail["hours"]) for event in audit
    ] == [("patient", "08:00-22:00", "06:00-18:00")]
    nurse_view = client.get(f"/api/v1/patients/{enrolment.id}", headers=nurse.headers).json()
    assert (nurse_view["wake_time"], nurse_view["sleep_time"]) == ("06:00", "18:00")


@time_machine.travel(NOW, tick=False)
def test_a_typed_time_without_its_leading_zero_is_understood(client, factory, engine):
    _phone(client, factory)
    assert _hours(client, "7:30", "21:00").status_code == 200
    assert _patient(engine).wake_time.strftime("%H:%M") == "07:30"


@pytest.mark.parametrize(
    ("wake", "sleep", "field", "says"),
    [
        ("22:00", "06:00", "sleep_time", "past midnight"),  # overnight: not supported
        ("09:00", "12:00", "sleep_time", "at least 4 hours"),
        ("nope", "22:00", "wake_time", "HH:MM"),
        ("08:00", "25:00", "sleep_time", "HH:MM"),
        ("", "22:00", "wake_time", "HH:MM"),
    ],
)
@time_machine.travel(NOW, tick=False)
def test_bad_hours_are_refused_on_their_field_and_change_nothing(
    client, factory, engine, wake, sleep, field, says
):
    _phone(client, factory)
    before = _plan_reminders(engine)
    built = _patient(engine).plan_built_at

    response = _hours(client, wake, sleep)

    assert response.status_code == 422
    assert re.search(rf'name="{field}" value="[^"]*" required aria-describedby="hours-help '
                     rf'{field}-error" aria-invalid="true"', response.text)  # fmt: skip
    error = re.search(rf'<p class="error" id="{field}-error">([^<]+)</p>', response.text)
    assert error and says in error.group(1)
    assert f'value="{wake}"' in response.text, "what was typed is kept to correct"
    patient = _patient(engine)
    assert (patient.wake_time.hour, patient.sleep_time.hour, patient.plan_built_at) == (
        8, 22, built,
    )  # fmt: skip
    assert _plan_reminders(engine) == before


@time_machine.travel(NOW, tick=False)
def test_waking_hours_need_the_csrf_token(client, factory, engine):
    _phone(client, factory)
    client.get("/settings")
    before = _plan_reminders(engine)
    response = client.post("/settings/hours", data={"wake_time": "06:00", "sleep_time": "18:00"})
    assert response.status_code == 403
    assert _hours(client, "06:00", "18:00", token="forged").status_code == 403
    assert _patient(engine).wake_time.hour == 8 and _plan_reminders(engine) == before


def test_patch_me_changes_the_waking_hours_and_moves_the_reminders(client, factory, engine):
    _, headers = _enrol(factory, channels=("in-app", "push"))
    before = _plan_reminders(engine)
    with time_machine.travel(NOW, tick=False):
        response = client.patch(
            "/api/v1/me", json={"wake_time": "07:00", "sleep_time": "19:00"}, headers=headers
        )
    assert response.status_code == 200, response.text
    after = _plan_reminders(engine)
    assert len(after) == len(before) == 24
    assert {(due.hour, due.minute) for _, _, due in after} == {(18, 30)}
    plan = client.get("/api/v1/me/plan", headers=headers).json()
    times = {i["time"] for d in plan["days"] for i in d["items"] if i["kind"] == "check-in"}
    assert times == {"18:30"}
    # One end alone is checked against the other one kept.
    with time_machine.travel(NOW, tick=False):
        later = client.patch("/api/v1/me", json={"sleep_time": "21:30"}, headers=headers)
    assert later.status_code == 200
    assert {(due.hour, due.minute) for _, _, due in _plan_reminders(engine)} == {(19, 0)}


def test_patch_me_with_the_same_hours_does_not_rebuild_the_plan(client, factory, engine):
    _, headers = _enrol(factory, channels=("in-app",))
    built = _patient(engine).plan_built_at
    with time_machine.travel(NOW, tick=False):
        response = client.patch(
            "/api/v1/me",
            json={"wake_time": "08:00", "sleep_time": "22:00", "language": "fr"},
            headers=headers,
        )
    assert response.status_code == 200 and response.json()["language"] == "fr"
    assert _patient(engine).plan_built_at == built


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"wake_time": "21:00"}, "wake_time"),  # 21:00 to the kept 22:00: too short
        ({"wake_time": "22:00", "sleep_time": "06:00"}, "sleep_time"),  # overnight
        ({"sleep_time": "7pm"}, "sleep_time"),
        ({"wake_time": None}, "wake_time"),
        ({"sleep_time": "10:00", "language": "fr"}, "sleep_time"),
    ],
)
def test_patch_me_refuses_bad_hours_naming_the_field(client, factory, engine, change, field):
    _, headers = _enrol(factory, channels=("in-app",))
    before = _plan_reminders(engine)
    response = client.patch("/api/v1/me", json=change, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    patient = _patient(engine)
    assert (patient.wake_time.hour, patient.sleep_time.hour, patient.language) == (8, 22, "en")
    assert _plan_reminders(engine) == before


def _send_test(client) -> str:
    response = client.post(
        "/settings/test", data={"csrf_token": _csrf(client.get("/settings").text)}
    )
    assert response.status_code == 200
    return _status(response.text)


def test_the_test_notification_says_it_stays_in_the_app_without_outside_channels(client, factory):
    _phone(client, factory)
    said = _send_test(client)
    assert "A test notification is on its way, but only inside this app" in said
    assert "turn on notifications below" in said
    assert "e-mail," not in said and "notifications on your phone" not in said


def test_the_test_notification_names_the_e_mail_masked(client, factory, engine):
    _phone(client, factory)
    settings = {"csrf_token": _csrf(client.get("/settings").text), "language": "en",
                "channels": ["email", "calendar"], "email": "ab@example.org"}  # fmt: skip
    assert client.post("/settings", data=settings).status_code == 200
    said = _send_test(client)
    assert "A test notification is on its way to:" in said
    assert "this app" in said and "your e-mail, a•••@example.org" in said
    assert "ab@example.org" not in said
    assert "calendar gets no test" in said
    with Session(engine) as session:
        channels = session.exec(select(Reminder.channel).where(Reminder.purpose == "test")).all()
    assert sorted(channels) == ["email", "in-app"]


def test_the_test_notification_names_the_phone_once_push_is_on(client, factory):
    _phone(client, factory)
    token = _csrf(client.get("/settings").text)
    on = client.post("/settings/push", json=_subscription(), headers={"X-CSRF-Token": token})
    assert on.status_code == 204
    said = _send_test(client)
    assert "notifications on your phone" in said and "this app" in said
    assert "e-mail" not in said and "calendar" not in said


def test_the_api_lists_the_channels_the_test_went_to(client, factory, engine):
    _, headers = _enrol(factory, channels=("in-app",))
    subscribed = client.post("/api/v1/me/push-subscriptions", json=_subscription(), headers=headers)
    assert subscribed.status_code == 201
    client.patch("/api/v1/me", json={"email": "ab@example.org"}, headers=headers)
    response = client.post("/api/v1/me/test-notification", headers=headers)
    assert response.status_code == 202
    # E-mail is set but not chosen: only the chosen channels that can be reached.
    assert response.json() == {"status": "queued", "channels": ["in-app", "push"],
                               "patient_id": None}  # fmt: skip
    # A phone whose push service said "gone" is not a place the test goes to.
    with Session(engine) as session:
        session.execute(text("UPDATE push_subscription SET retired_at = :now"),
                        {"now": datetime.now(UTC)})  # fmt: skip
        session.commit()
        assert session.exec(select(PushSubscription)).one().retired_at is not None
    again = client.post("/api/v1/me/test-notification", headers=headers)
    assert again.json()["channels"] == ["in-app"]
