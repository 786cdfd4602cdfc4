"""The reminder routes of api.md through HTTP."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from icalendar import Calendar

from tests.reminders.test_dispatcher import ENROLLED, _enrol, _rows


def test_patch_me_changes_email_channels_and_language(client, factory, engine):
    _, headers = _enrol(factory, channels=("in-app",))
    with time_machine.travel(ENROLLED, tick=False):
        response = client.patch(
            "/api/v1/me",
            json={"email": "ab@example.org", "channels": ["email", "calendar"], "language": "ar"},
            headers=headers,
        )
    assert response.status_code == 200
    assert response.json() == {
        "email": "ab@example.org", "channels": ["calendar", "email", "in-app"], "language": "ar",
        # No phone given: no call, no message (tests/patients/test_contact.py).
        "phone": None, "phone_safe_to_call": False, "phone_leave_message": False,
        "phone_best_time": None,
    }  # fmt: skip
    assert len(_rows(engine, channel="email")) == 12
    plan = client.get("/api/v1/me/plan", headers=headers).json()
    assert plan["language"] == "ar"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "nope"}, "email"),
        ({"channels": ["sms"]}, "channels"),
        ({"language": "de"}, "language"),
    ],
)
def test_patch_me_refuses_bad_values_and_keeps_the_old_ones(client, factory, change, field):
    _, headers = _enrol(factory, channels=("in-app",))
    response = client.patch("/api/v1/me", json=change, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][1] == field
    assert client.get("/api/v1/me/plan", headers=headers).json()["language"] == "en"


def test_the_push_key_is_a_p256_point_and_needs_no_sign_in(client):
    key = client.get("/api/v1/push/key").json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4
    assert client.get("/api/v1/push/key").json()["public_key"] == key, "kept, not remade"


def test_a_push_subscription_is_stored_and_turns_push_on(client, factory, engine):
    _, headers = _enrol(factory, channels=("in-app",))
    subscription = {
        "endpoint": "https://push.example.net/send/abc",
        "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0c2VjcmV0"},
        "expirationTime": None,
    }
    with time_machine.travel(ENROLLED, tick=False):
        response = client.post("/api/v1/me/push-subscriptions", json=subscription, headers=headers)
    assert response.status_code == 201
    assert "push" in response.json()["channels"]
    assert len(_rows(engine, channel="push")) == 12
    bad = client.post("/api/v1/me/push-subscriptions", json={"endpoint": "nope"}, headers=headers)
    assert bad.status_code == 422


def test_a_test_notification_arrives_in_the_app_within_one_sweep(client, factory, dispatcher):
    _, headers = _enrol(factory, channels=("in-app",))
    response = client.post("/api/v1/me/test-notification", headers=headers)
    assert response.status_code == 202 and response.json()["channels"] == ["in-app"]
    dispatcher.sweep(datetime.now(UTC) + timedelta(seconds=1))
    items = client.get("/api/v1/me/reminders", headers=headers).json()["items"]
    assert [item["title"] for item in items] == [
        "This is a test notification. Your reminders work."
    ]
    seen = client.post(f"/api/v1/me/reminders/{items[0]['id']}/seen", headers=headers)
    assert seen.status_code == 204
    assert client.get("/api/v1/me/reminders", headers=headers).json()["items"] == []


def test_a_nurse_sends_a_test_reminder_to_her_own_patients_only(client, factory):
    enrolment, _ = _enrol(factory, channels=("in-app",))
    nurse, stranger = factory.nurse(), factory.nurse("south")
    url = f"/api/v1/patients/{enrolment.id}/test-reminder"
    assert client.post(url, headers=nurse.headers).status_code == 202
    assert client.post(url, headers=stranger.headers).status_code == 404


def test_the_private_calendar_feed(client, factory):
    _, headers = _enrol(factory, channels=("in-app",))
    url = client.get("/api/v1/me/calendar", headers=headers).json()["url"]
    assert url.startswith("http://testserver/calendar/") and url.endswith(".ics")
    feed = client.get(url.removeprefix("http://testserver"))
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(feed.content).walk("VEVENT")
    assert len(events) == 12
    assert client.get("/calendar/not-the-token.ics").status_code == 404


def test_metrics_count_reminders_and_flags(client, factory, dispatcher):
    _, headers = _enrol(factory, channels=("in-app",))
    client.post("/api/v1/me/test-notification", headers=headers)
    dispatcher.sweep(datetime.now(UTC) + timedelta(seconds=1))
    text = client.get("/metrics").text
    assert 'aftercare_reminders_total{channel="in-app",outcome="sent"}' in text
    assert 'aftercare_open_flags{severity="red"} 0.0' in text
    assert "aftercare_dispatch_lag_seconds" in text
