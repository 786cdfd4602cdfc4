"""No request forgery through push subscriptions (api.md: https on a public address).

With `push_allow_insecure` off, an endpoint that is plain http, or whose host
is or resolves to a private, loopback, link-local or otherwise non-public
address, is refused when it is stored (422 naming `endpoint`) and again when
the dispatcher would send to it. Nothing here needs the internet: a public
endpoint is a literal public address, and every server is a real socket on
127.0.0.1.
"""

import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from aftercare.app import create_app
from aftercare.patients.models import Patient
from aftercare.reminders.models import PushSubscription
from aftercare.reminders.push import WebPushChannel
from aftercare.settings import Settings
from tests.console.conftest import csrf_of, sign_in
from tests.factories import Factory
from tests.patients.test_more_pages import _signed_in
from tests.patients.test_pages import _csrf
from tests.reminders.test_dispatcher import ENROLLED, _enrol, _rows
from tests.reminders.test_end_to_end import DAY_1_EVENING, _dispatcher
from tests.reminders.test_push import (  # noqa: F401 - fixtures
    SUBJECT,
    Browser,
    b64url_encode,
    browser,
    deliver,
    keys,
    push_service,
)

PUBLIC = "https://93.184.216.34/send/abc"
PUBLIC_V6 = "https://[2606:2800:220:1:248:1893:25c8:1946]/send/abc"
REFUSED = {
    "plain-http": "http://push.example.net/send/abc",
    "loopback": "https://127.0.0.1/send/abc",
    "loopback-v6": "https://[::1]/send/abc",
    "cloud-metadata": "https://169.254.169.254/latest/meta-data/",
    "private": "https://10.0.0.1/send/abc",
    "private-192": "https://192.168.1.20/send/abc",
    "name-for-loopback": "https://localhost/send/abc",
    "name-that-does-not-resolve": "https://no-such-push-service.invalid/send/abc",
    "loopback-as-a-number": "https://2130706433/send/abc",
    "ipv4-mapped-loopback": "https://[::ffff:127.0.0.1]/send/abc",
    "6to4-of-loopback": "https://[2002:7f00:1::]/send/abc",
    "site-local-v6": "https://[fec0::1]/send/abc",
    "unique-local-v6": "https://[fd00::1]/send/abc",
    "link-local-v6": "https://[fe80::1]/send/abc",
    "multicast": "https://224.0.0.1/send/abc",
    "unspecified": "https://0.0.0.0/send/abc",
    "shared-address-space": "https://100.64.0.1/send/abc",
    "reserved": "https://240.0.0.1/send/abc",
    "with-credentials": "https://user:secret@93.184.216.34/send/abc",
    "too-long": PUBLIC + "/" + "a" * 1000,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with the check on, as on a real server."""
    return settings.model_copy(update={"push_allow_insecure": False})


@pytest.fixture
def lenient(settings: Settings) -> Settings:
    return settings.model_copy(update={"push_allow_insecure": True})


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that nobody accepts from: a connection made to it
    waits in its queue, so `connections(listener)` after the fact sees every one."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.setblocking(False)
        yield server


def connections(server: socket.socket) -> int:
    count = 0
    while True:
        try:
            accepted, _ = server.accept()
        except BlockingIOError:
            return count
        accepted.close()
        count += 1


def subscription(endpoint: str, browser: Browser | None = None) -> dict[str, object]:
    browser = browser or Browser.new()
    return {
        "endpoint": endpoint,
        "keys": {"p256dh": browser.p256dh, "auth": b64url_encode(browser.auth)},
        "expirationTime": None,
    }


def assert_refused_naming_endpoint(response, endpoint: str, case: str = "") -> None:
    assert response.status_code == 422, (case, response.text)
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "endpoint"]], case
    assert endpoint not in response.text, f"{case}: the URL is never repeated back"


def stored_endpoints(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.exec(select(PushSubscription.endpoint)))


# --- When a subscription is stored ---


def test_endpoints_off_the_public_internet_are_refused_naming_the_field(client, factory, engine):
    _, headers = _enrol(factory, channels=("in-app",))
    for case, endpoint in REFUSED.items():
        response = client.post(
            "/api/v1/me/push-subscriptions", json=subscription(endpoint), headers=headers
        )
        assert_refused_naming_endpoint(response, endpoint, case)
    assert stored_endpoints(engine) == []
    with Session(engine) as session:
        assert "push" not in session.exec(select(Patient.channels)).one()


@pytest.mark.parametrize("endpoint", [PUBLIC, PUBLIC_V6], ids=["ipv4", "ipv6"])
def test_an_https_endpoint_on_a_public_address_is_accepted(client, factory, engine, endpoint):
    _, headers = _enrol(factory, channels=("in-app",))
    with time_machine.travel(ENROLLED, tick=False):
        response = client.post(
            "/api/v1/me/push-subscriptions", json=subscription(endpoint), headers=headers
        )
    assert response.status_code == 201, response.text
    assert "push" in response.json()["channels"]
    assert stored_endpoints(engine) == [endpoint]


def test_the_phones_settings_page_refuses_a_loopback_endpoint(client, factory, engine):
    _signed_in(client, factory)
    token = _csrf(client.get("/settings").text)
    endpoint = REFUSED["name-for-loopback"]
    response = client.post(
        "/settings/push", json=subscription(endpoint), headers={"X-CSRF-Token": token}
    )
    assert_refused_naming_endpoint(response, endpoint)
    public = client.post(
        "/settings/push", json=subscription(PUBLIC), headers={"X-CSRF-Token": token}
    )
    assert public.status_code == 204
    assert stored_endpoints(engine) == [PUBLIC]


def test_the_consoles_alerts_refuse_the_cloud_metadata_address(client, factory, engine):
    assert sign_in(client, factory.nurse().email).status_code == 303
    token = csrf_of(client.get("/console/account").text)
    endpoint = REFUSED["cloud-metadata"]
    response = client.post(
        "/console/push", json=subscription(endpoint), headers={"X-CSRF-Token": token}
    )
    assert_refused_naming_endpoint(response, endpoint)
    assert stored_endpoints(engine) == []


def test_with_the_setting_on_a_loopback_endpoint_is_stored(lenient, engine):
    with TestClient(create_app(lenient, engine)) as app:
        _, headers = _enrol(Factory(engine, app), channels=("in-app",))
        response = app.post(
            "/api/v1/me/push-subscriptions",
            json=subscription("http://127.0.0.1:8080/send/abc"),
            headers=headers,
        )
    assert response.status_code == 201, response.text


# --- When the dispatcher sends ---


def test_an_endpoint_stored_while_allowed_is_not_posted_to_once_the_check_is_on(
    lenient, settings, engine, push_service, browser
):
    with TestClient(create_app(lenient, engine)) as app:
        _, headers = _enrol(Factory(engine, app), channels=("in-app",))
        with time_machine.travel(ENROLLED, tick=False):
            stored = app.post(
                "/api/v1/me/push-subscriptions",
                json=subscription(push_service.endpoint("/phone"), browser),
                headers=headers,
            )
    assert stored.status_code == 201

    dispatcher = _dispatcher(engine, settings)
    swept_at = DAY_1_EVENING + timedelta(seconds=5)
    counts = dispatcher.sweep(swept_at)
    dispatcher.writer.close()

    assert push_service.received == [], "nothing reached the loopback push service"
    assert counts.by_outcome[("push", "failed")] == 1
    (failed,) = [row for row in _rows(engine, channel="push") if row.status == "failed"]
    assert failed.last_error == "push endpoint refused: must be an https URL"
    with Session(engine) as session:
        (row,) = session.exec(select(PushSubscription)).all()
    assert row.retired_at == swept_at, "never tried again"


def test_a_stored_name_that_now_resolves_to_loopback_gets_no_connection(
    settings, factory, engine, listener, browser
):
    # Stored as if the name had led to a public address then; today it leads to 127.0.0.1.
    enrolment, _ = _enrol(factory)
    endpoint = f"https://localhost:{listener.getsockname()[1]}/phone"
    with Session(engine) as session:
        session.add(
            PushSubscription(
                patient_id=uuid.UUID(enrolment.id),
                endpoint=endpoint,
                p256dh=browser.p256dh,
                auth=b64url_encode(browser.auth),
            )
        )
        session.commit()

    dispatcher = _dispatcher(engine, settings)
    swept_at = DAY_1_EVENING + timedelta(seconds=5)
    counts = dispatcher.sweep(swept_at)
    dispatcher.writer.close()

    assert connections(listener) == 0, "not even a TCP connection to the loopback address"
    assert counts.by_outcome[("push", "failed")] == 1
    errors = [row.last_error for row in _rows(engine, channel="push") if row.status == "failed"]
    assert errors == ["push endpoint refused: must be a push service on the public internet"]
    with Session(engine) as session:
        retired = session.exec(select(col(PushSubscription.retired_at))).one()
    assert retired == swept_at


def test_refused_subscriptions_are_retired_and_the_channel_reports_a_failure(
    keys, listener, browser
):
    port = listener.getsockname()[1]
    channel = WebPushChannel(keys.private_pem, SUBJECT)
    try:
        result = channel.send(
            deliver(
                browser.target(1, f"https://127.0.0.1:{port}/phone"),
                browser.target(2, f"https://0x7f.1:{port}/tablet"),  # 127.0.0.1 in disguise
                browser.target(3, f"http://localhost:{port}/laptop"),
            )
        )
    finally:
        channel.close()
    assert result.outcome == "failed"
    assert result.retired == (1, 2, 3)
    assert result.error is not None and str(port) not in result.error
    assert connections(listener) == 0


def test_with_the_setting_on_the_loopback_push_service_gets_the_message(
    lenient, engine, push_service, browser
):
    endpoint = push_service.endpoint("/phone", host="localhost")
    with TestClient(create_app(lenient, engine)) as app:
        _, headers = _enrol(Factory(engine, app), channels=("in-app",))
        with time_machine.travel(ENROLLED, tick=False):
            stored = app.post(
                "/api/v1/me/push-subscriptions",
                json=subscription(endpoint, browser),
                headers=headers,
            )
    assert stored.status_code == 201

    dispatcher = _dispatcher(engine, lenient)
    counts = dispatcher.sweep(DAY_1_EVENING + timedelta(seconds=5))
    dispatcher.writer.close()

    assert counts.by_outcome[("push", "sent")] == 1
    (received,) = push_service.received
    # The connection went to the address looked up; the name still travels in Host.
    assert received.headers["host"] == f"localhost:{push_service.port}"
    assert browser.decrypt(received.body)["body"] == "Time for your daily check-in"
