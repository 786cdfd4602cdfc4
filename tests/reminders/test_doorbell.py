"""A test notification goes at once, not at the next sweep (reminders/doorbell.py).

The dispatch interval here is an hour: after the sweep at start-up, only the
doorbell can make the dispatcher send before the test gives up.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from aftercare.app import create_app
from tests.factories import Factory
from tests.reminders.test_dispatcher import _enrol
from tests.reminders.test_push import browser, push_service  # noqa: F401 - fixtures
from tests.reminders.test_push_ssrf import subscription

CEILING_S = 120.0


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CEILING_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_test_notification_is_sent_at_once_not_at_the_next_sweep(
    settings, engine, push_service, browser
):
    hourly = settings.model_copy(update={"dispatch_interval_s": 3600})
    app = create_app(hourly, engine, run_jobs=True)
    with TestClient(app) as client:
        job = app.state.scheduler.get_job("dispatch-reminders")
        # The sweep at start-up is over: the next one is an hour away.
        _until(
            lambda: job.next_run_time - datetime.now(UTC) > timedelta(minutes=30),
            "the start-up sweep ran",
        )
        _, headers = _enrol(Factory(engine, client), channels=("in-app", "push"))
        stored = client.post(
            "/api/v1/me/push-subscriptions",
            json=subscription(push_service.endpoint("/phone"), browser),
            headers=headers,
        )
        assert stored.status_code == 201
        asked = client.post("/api/v1/me/test-notification", headers=headers)
        assert asked.status_code == 202
        _until(lambda: len(push_service.received) == 1, "the test notification arrived")
        message = browser.decrypt(push_service.received[0].body)
        assert message["body"] == "This is a test notification. Your reminders work."
