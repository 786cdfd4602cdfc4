"""From the plan to a real SMTP server and a real push service, through the app's channels."""

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default

import time_machine
from sqlmodel import Session, select

from aftercare.checkins.service import checked_in_on
from aftercare.reminders.dispatcher import Dispatcher
from aftercare.reminders.models import PushSubscription
from aftercare.reminders.push import vapid_keys
from aftercare.reminders.runtime import make_channels
from aftercare.writer import make_writer
from tests.reminders.test_dispatcher import ENROLLED, _enrol
from tests.reminders.test_email import Recorder, start_smtp  # noqa: F401 - fixture
from tests.reminders.test_push import b64url_encode, browser, push_service  # noqa: F401

DAY_1_EVENING = datetime(2027, 3, 26, 18, 0, tzinfo=UTC)  # 19:00 in Paris


def _dispatcher(engine, settings) -> Dispatcher:
    with Session(engine) as session:
        keys = vapid_keys(session)
    return Dispatcher(
        engine,
        make_writer(engine),
        make_channels(settings, keys),
        settings,
        checked_in_on=checked_in_on,
    )


def test_the_evening_reminder_reaches_an_inbox_and_says_nothing_of_the_plan(
    engine,
    settings,
    factory,
    client,
    start_smtp,
):
    recorder = Recorder()
    port = start_smtp(recorder)
    settings = settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{port}?starttls=no",
            "mail_from": "care@clinic.example",
        }
    )
    _, headers = _enrol(factory, channels=("in-app",))
    with time_machine.travel(ENROLLED, tick=False):
        client.patch(
            "/api/v1/me", json={"email": "ab@example.org", "channels": ["email"]}, headers=headers
        )
    dispatcher = _dispatcher(engine, settings)
    assert dispatcher.sweep(DAY_1_EVENING + timedelta(seconds=5)).sent == 2  # e-mail and in-app
    (mail,) = recorder.received
    assert mail.rcpt_tos == ["ab@example.org"] and mail.mail_from == "care@clinic.example"
    message = message_from_bytes(mail.content, policy=default)
    assert message["Subject"] == "Care"
    text = message.get_content()
    assert "Time for your daily check-in" in text and "http://testserver/today" in text
    for word in ("hymen", "surgery", "bleeding", "pain", "A.B."):
        assert word not in mail.content.decode(), word
    dispatcher.writer.close()


def test_a_push_reaches_the_phone_encrypted_and_a_dropped_subscription_is_retired(
    engine,
    settings,
    factory,
    client,
    push_service,
    browser,
):
    _, headers = _enrol(factory, channels=("in-app",))
    subscription = {
        "endpoint": push_service.endpoint("/phone"),
        "keys": {"p256dh": browser.p256dh, "auth": b64url_encode(browser.auth)},
    }
    with time_machine.travel(ENROLLED, tick=False):
        assert (
            client.post(
                "/api/v1/me/push-subscriptions", json=subscription, headers=headers
            ).status_code
            == 201
        )
    dispatcher = _dispatcher(engine, settings)
    dispatcher.sweep(DAY_1_EVENING + timedelta(seconds=5))
    (received,) = push_service.received
    payload = browser.decrypt(received.body)
    assert payload.pop("tag").startswith("r")
    assert payload == {
        "title": "Care",
        "body": "Time for your daily check-in",
        "url": "http://testserver/today",
    }

    push_service.statuses["/phone"] = 410
    day_2 = DAY_1_EVENING + timedelta(days=1, seconds=5)
    counts = dispatcher.sweep(day_2)
    assert counts.by_outcome[("push", "failed")] == 1
    with Session(engine) as session:
        (row,) = session.exec(select(PushSubscription)).all()
    assert row.retired_at == day_2, "the browser dropped it: never used again"
    dispatcher.writer.close()
