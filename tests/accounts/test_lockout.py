"""One lockout for the console and the API; addresses read through trusted proxies only;
a blocked address blocks no one else; Retry-After on every 429; sign-ins audited."""

import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from aftercare.audit.models import AuditEvent
from tests.console.conftest import sign_in
from tests.factories import PASSWORD

TOKEN = "/api/v1/auth/token"


def _from(client: TestClient, address: str) -> TestClient:
    return TestClient(client.app, client=(address, 40000))


def _token(client: TestClient, email: str, password: str, **headers: str):
    return client.post(TOKEN, data={"username": email, "password": password}, headers=headers)


def _retry_after(response, settings) -> int:
    value = int(response.headers["retry-after"])
    assert 0 < value <= settings.auth_failure_window_minutes * 60
    return value


def test_failures_at_the_console_from_many_addresses_lock_the_api_too(client, factory, settings):
    nurse = factory.nurse()
    for n in range(settings.max_auth_failures):
        assert sign_in(_from(client, f"203.0.113.{n + 1}"), nurse.email, "guess").status_code == 401
    elsewhere = _from(client, "198.51.100.9")
    refused = _token(elsewhere, nurse.email, PASSWORD)
    assert refused.status_code == 429, "a locked account gets no token, whatever the address"
    _retry_after(refused, settings)
    page = sign_in(elsewhere, nurse.email, PASSWORD)
    assert page.status_code == 429 and "locked" in page.text
    _retry_after(page, settings)


def test_failures_at_the_api_from_many_addresses_lock_the_console(client, factory, settings):
    nurse = factory.nurse()
    for n in range(settings.max_auth_failures):
        assert _token(_from(client, f"192.0.2.{n + 1}"), nurse.email, "guess").status_code == 401
    assert sign_in(_from(client, "198.51.100.20"), nurse.email, PASSWORD).status_code == 429
    # Another account is not touched.
    other = factory.nurse()
    assert _token(_from(client, "198.51.100.20"), other.email, PASSWORD).status_code == 200


def test_a_blocked_address_behind_a_trusted_proxy_blocks_only_itself(client, factory, settings):
    nurse = factory.nurse()
    proxy = _from(client, "127.0.0.1")  # trusted by default: a proxy on the same machine
    for _ in range(settings.max_auth_failures):
        unknown = f"nobody-{uuid.uuid4().hex[:6]}@clinic.example"
        assert _token(proxy, unknown, "x", **{"X-Forwarded-For": "203.0.113.50"}).status_code == 401
    blocked = _token(proxy, nurse.email, PASSWORD, **{"X-Forwarded-For": "203.0.113.50"})
    assert blocked.status_code == 429
    _retry_after(blocked, settings)
    # A colleague behind the same proxy signs in.
    colleague = _token(proxy, nurse.email, PASSWORD, **{"X-Forwarded-For": "203.0.113.51"})
    assert colleague.status_code == 200


def test_an_untrusted_client_cannot_choose_its_address(client, factory, settings):
    nurse = factory.nurse()
    outsider = _from(client, "198.51.100.77")
    for n in range(settings.max_auth_failures):
        unknown = f"nobody-{uuid.uuid4().hex[:6]}@clinic.example"
        spoofed = {"X-Forwarded-For": f"10.0.0.{n + 1}"}
        assert _token(outsider, unknown, "x", **spoofed).status_code == 401
    again = _token(outsider, nurse.email, PASSWORD, **{"X-Forwarded-For": "10.0.0.99"})
    assert again.status_code == 429, "X-Forwarded-For from an untrusted peer is not believed"


def test_the_trusted_proxies_are_a_setting(settings, engine, factory):
    from aftercare.app import create_app

    nurse = factory.nurse()
    app = create_app(settings.model_copy(update={"trusted_proxies": "10.8.0.0/16"}), engine)
    proxy = TestClient(app, client=("10.8.3.4", 40000))
    for _ in range(settings.max_auth_failures):
        unknown = f"nobody-{uuid.uuid4().hex[:6]}@clinic.example"
        _token(proxy, unknown, "x", **{"X-Forwarded-For": "203.0.113.60, 10.8.9.9"})
    hop = {"X-Forwarded-For": "203.0.113.60, 10.8.9.9"}
    assert _token(proxy, nurse.email, PASSWORD, **hop).status_code == 429
    other = {"X-Forwarded-For": "203.0.113.61, 10.8.9.9"}
    assert _token(proxy, nurse.email, PASSWORD, **other).status_code == 200
    # The old default (a local proxy) is no longer believed.
    local = TestClient(app, client=("127.0.0.1", 40000))
    assert _token(local, nurse.email, PASSWORD, **hop).status_code == 200


def test_one_address_trying_codes_never_stops_anothers_valid_code(client, factory, settings):
    nurse = factory.nurse()
    valid = factory.enrolment(nurse)
    valid_by_page = factory.enrolment(nurse)
    guesser = _from(client, "203.0.113.90")
    for n in range(settings.max_auth_failures):
        assert guesser.post("/api/v1/enroll", json={"code": f"WRONG{n:04d}"}).status_code == 400
    api = guesser.post("/api/v1/enroll", json={"code": valid.code})
    assert api.status_code == 429
    _retry_after(api, settings)
    page = guesser.get(f"/start/{valid.code}")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = guesser.post(f"/start/{valid.code}", data={"csrf_token": token})
    assert refused.status_code == 429
    _retry_after(refused, settings)

    patient = _from(client, "198.51.100.30")
    assert patient.post("/api/v1/enroll", json={"code": valid.code}).status_code == 200
    page = patient.get(f"/start/{valid_by_page.code}")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    opened = patient.post(f"/start/{valid_by_page.code}", data={"csrf_token": token})
    assert opened.status_code == 200 and opened.url.path == "/today"


def test_sign_ins_and_their_failures_are_audited_without_the_e_mail(client, factory, engine):
    nurse = factory.nurse()  # signs in by the API
    assert sign_in(_from(client, "198.51.100.41"), nurse.email, PASSWORD).status_code == 303
    assert _token(_from(client, "198.51.100.42"), nurse.email, "wrong").status_code == 401
    stranger = "not-a-nurse@clinic.example"
    assert _token(_from(client, "198.51.100.43"), stranger, "wrong").status_code == 401
    with Session(engine) as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.action).startswith("nurse.sign"))
            .order_by(col(AuditEvent.id))
        ).all()
    seen = [(e.action, e.detail.get("door"), e.client) for e in events]
    assert seen == [
        ("nurse.signed-in", "api", "testclient"),
        ("nurse.signed-in", "console", "198.51.100.41"),
        ("nurse.sign-in-failed", "api", "198.51.100.42"),
        ("nurse.sign-in-failed", "api", "198.51.100.43"),
    ]
    assert events[2].clinic_id == events[0].clinic_id and events[3].clinic_id is None
    assert all(stranger not in str(e.detail) and nurse.email not in str(e.detail) for e in events)
