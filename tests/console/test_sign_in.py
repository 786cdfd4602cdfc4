"""Signing in to the console: a cookie session, inactivity, lockout, signing out everywhere."""

import time_machine
from sqlalchemy import text

from tests.console.conftest import csrf_of, sign_in


def test_console_without_a_session_leads_to_the_sign_in_form(client):
    response = client.get("/console")
    assert response.status_code == 200 and response.url.path == "/console/sign-in"
    assert 'type="email"' in response.text and 'type="password"' in response.text


def test_signing_in_opens_a_strict_http_only_session_and_shows_the_queue(client, factory):
    nurse = factory.nurse()
    response = sign_in(client, nurse.email)
    assert response.status_code == 303 and response.headers["location"] == "/console/queue"
    cookie = response.headers["set-cookie"]
    assert "console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/queue"


def test_a_wrong_password_is_refused_kindly(client, factory):
    nurse = factory.nurse()
    response = sign_in(client, nurse.email, "not the password")
    assert response.status_code == 401 and "Wrong e-mail or password." in response.text
    assert "console=" not in response.headers.get("set-cookie", "")


def test_the_sign_in_form_refuses_a_missing_or_wrong_csrf_token(client, factory):
    nurse = factory.nurse()
    client.get("/console/sign-in")
    body = {"email": nurse.email, "password": "correct horse battery staple"}
    assert client.post("/console/sign-in", data=body).status_code in (403, 422)
    forged = client.post("/console/sign-in", data={**body, "csrf_token": "forged"})
    assert forged.status_code == 403


def test_repeated_failures_lock_the_account_with_a_clear_message(client, factory, settings):
    nurse = factory.nurse()
    for _ in range(settings.max_auth_failures):
        assert sign_in(client, nurse.email, "guess").status_code == 401
    locked = sign_in(client, nurse.email)  # even the right password waits now
    assert locked.status_code == 429 and "locked for a few minutes" in locked.text


def test_the_console_cookie_is_not_a_bearer_token(client, factory):
    nurse = factory.nurse()
    token = sign_in(client, nurse.email).cookies["console"]
    api = client.get("/api/v1/patients", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401


def test_fifteen_minutes_without_activity_sign_the_console_out(client, factory):
    with time_machine.travel("2027-03-01T09:00:00Z", tick=False) as clock:
        nurse = factory.nurse()
        sign_in(client, nurse.email)
        clock.move_to("2027-03-01T09:14:00Z")
        assert client.get("/console", follow_redirects=False).headers["location"] == (
            "/console/queue"
        )
        clock.move_to("2027-03-01T09:28:30Z")  # 14.5 minutes after the last use: still in
        assert client.get("/console", follow_redirects=False).headers["location"] == (
            "/console/queue"
        )
        clock.move_to("2027-03-01T09:44:00Z")
        response = client.get("/console/queue", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/sign-in?timeout=1"
        # And the session is over for good, not only for this request.
        clock.move_to("2027-03-01T09:44:10Z")
        assert client.get("/console", follow_redirects=False).headers["location"] == (
            "/console/sign-in"
        )


def test_signing_out_ends_the_session(console):
    response = console.post("/console/sign-out")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?signed_out=1"
    assert console.client.get("/console/queue", follow_redirects=False).status_code == 303


def test_signing_out_everywhere_ends_every_session_and_api_token(console, client, engine):
    api = {"Authorization": f"Bearer {console.nurse.token}"}
    assert client.get("/api/v1/patients", headers=api).status_code == 200
    response = console.post("/console/sign-out-everywhere")
    assert response.status_code == 303
    assert client.get("/api/v1/patients", headers=api).status_code == 401
    with engine.connect() as conn:
        action = "SELECT client FROM audit_event WHERE action = 'nurse.signed-out-everywhere'"
        assert conn.execute(text(action)).scalar() == "testclient"


def test_a_disabled_nurse_cannot_sign_in(client, factory, engine):
    nurse = factory.nurse()
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE nurse SET is_active = false WHERE email = :e"), {"e": nurse.email}
        )
    assert sign_in(client, nurse.email).status_code == 401


def test_sign_in_page_is_in_the_browsers_language(client):
    page = client.get("/console/sign-in", headers={"Accept-Language": "ar"})
    assert '<html lang="ar" dir="rtl">' in page.text
    assert csrf_of(page.text)


def test_the_live_queue_alone_does_not_keep_a_console_signed_in(client, factory):
    with time_machine.travel("2027-03-01T09:00:00Z", tick=False) as clock:
        sign_in(client, factory.nurse().email)
        for minute in range(2, 16, 2):  # the page's own refreshes, every two minutes
            clock.move_to(f"2027-03-01T09:{minute:02d}:00Z")
            assert client.get("/console/queue/list", follow_redirects=False).status_code == 200
        clock.move_to("2027-03-01T09:15:30Z")
        response = client.get("/console/queue/list", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/sign-in?timeout=1"
