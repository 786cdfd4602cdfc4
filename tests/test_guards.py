"""What the app refuses before any work, through HTTP: huge bodies, deep JSON, odd text,
numbers and dates beyond reason, and requests without a token whatever their body."""

import http.client
import json
import socket
import uuid
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from tests.browser.conftest import live_server  # noqa: F401 (a fixture)

PRIVATE = "my-private-words-47"


def _checkin(**changes):
    body = {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(UTC).isoformat(), "pain": 3,
        "temperature_c": None, "bleeding": "none", "discharge": "none", "urination": "normal",
        "allergy": "none", "nausea": False, "wants_contact": False, "note": "",
    }  # fmt: skip
    body.update(changes)
    return body


@pytest.fixture
def patient(factory):
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    return factory.patient_headers(factory.enrolment(nurse, surgery_at=surgery))


def test_a_body_over_one_mib_is_413_whoever_sends_it(client):
    huge = json.dumps({"code": "x" * (1024 * 1024 + 10)})
    response = client.post(
        "/api/v1/enroll", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "x" * 100 not in response.text


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(live_server):
    """On a real socket: a chunked upload says no length."""
    host, port = live_server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.putrequest("POST", "/api/v1/enroll")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b"[" * (1024 * 1024)
    sent = 0
    try:
        for _ in range(64):  # 64 MiB offered, no Content-Length
            connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sent += 1
        connection.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: refused as soon as it passed the limit
    response = connection.getresponse()
    assert response.status == 413
    connection.close()
    health = http.client.HTTPConnection(host, int(port), timeout=30)
    health.request("GET", "/healthz")
    assert health.getresponse().status == 200


def test_absurdly_deep_json_is_413_and_brackets_in_text_are_fine(client, patient):
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post(
        "/api/v1/enroll", content=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    note = "[[[[ {{{{ " * 50  # what a patient writes is text, however many brackets
    sent = client.post("/api/v1/me/checkins", json=_checkin(note=note), headers=patient)
    assert sent.status_code == 201


def test_a_422_names_the_field_and_never_echoes_what_was_sent(client, patient):
    response = client.post(
        "/api/v1/me/checkins", json=_checkin(note=PRIVATE * 200, pain=PRIVATE), headers=patient
    )
    assert response.status_code == 422
    assert PRIVATE not in response.text
    fields = {error["loc"][-1] for error in response.json()["detail"]}
    assert fields == {"note", "pain"}


@pytest.mark.parametrize("odd", ["a\x00b", "\ud800", "x\udfffy"])
def test_nul_bytes_and_lone_surrogates_are_422_naming_the_field(client, patient, odd):
    body = json.dumps(_checkin(note=odd), ensure_ascii=True)  # as a phone would send \ud800
    response = client.post(
        "/api/v1/me/checkins",
        content=body,
        headers={**patient, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "note"]]
    message = client.post("/api/v1/me/messages", json={"body": "hi\x00"}, headers=patient)
    assert message.status_code == 422
    assert client.get("/api/v1/me/checkins", headers=patient).json() == {"items": []}


def test_an_alias_with_a_nul_byte_is_422(client, factory):
    nurse = factory.nurse()
    body = factory.patient_body(alias="A\x00B")
    response = client.post("/api/v1/patients", json=body, headers=nurse.headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "alias"]


def test_numbers_and_dates_beyond_reason_are_422(client, factory, patient):
    nurse = factory.nurse()
    far = client.post(
        "/api/v1/patients",
        json=factory.patient_body(surgery_at="9999-12-31T09:00:00+01:00"),
        headers=nurse.headers,
    )
    assert far.status_code == 422 and far.json()["detail"][0]["loc"] == ["body", "surgery_at"]
    for url in ("/api/v1/me/checkins", "/api/v1/flags", "/api/v1/patients"):
        headers = patient if "/me/" in url else nurse.headers
        response = client.get(f"{url}?offset={2**63}", headers=headers)
        assert response.status_code == 422, url


def test_a_phone_clock_reset_to_year_one_is_still_stored(client, patient):
    sent = _checkin(recorded_at="0001-01-01T00:00:00+05:00", pain=9)
    response = client.post("/api/v1/me/checkins", json=sent, headers=patient)
    assert response.status_code == 201 and response.json()["severity"] == "red"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/me/checkins"),
        ("post", "/api/v1/me/messages"),
        ("patch", "/api/v1/me"),
        ("post", "/api/v1/patients"),
        ("post", f"/api/v1/flags/{uuid.uuid4()}/resolve"),
        ("post", "/api/v1/me/push-subscriptions"),
    ],
)
def test_without_a_valid_token_it_is_401_whatever_the_body(client, method, path):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        for body in ('{"bad": ', '{"pain": "lots"}', "[" * 50_000):
            response = client.request(
                method, path, content=body,
                headers={**headers, "Content-Type": "application/json"},
            )  # fmt: skip
            assert response.status_code == 401, (path, body[:10], response.text)


def test_with_the_database_away_every_route_answers_503_json(settings):
    """A database that cannot be reached: 503 JSON with Retry-After on pages, API and console."""
    from fastapi.testclient import TestClient

    from aftercare.app import create_app
    from aftercare.db import make_engine

    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    away = make_engine(f"postgresql://postgres@127.0.0.1:{closed}/nothing")
    app = create_app(settings, away)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.cookies.set("session", "some-phone")
        client.cookies.set("console", "some-nurse")
        requests = [
            ("get", "/today"), ("get", "/plan"), ("get", "/api/v1/me/plan"),
            ("get", "/api/v1/patients"), ("post", "/api/v1/auth/token"),
            ("post", "/api/v1/enroll"), ("get", "/console/queue"), ("get", "/healthz"),
        ]  # fmt: skip
        for method, path in requests:
            kwargs: dict[str, object] = {"headers": {"Authorization": "Bearer some-token"}}
            if path == "/api/v1/auth/token":
                kwargs["data"] = {"username": "n@example.org", "password": "x"}
            if path == "/api/v1/enroll":
                kwargs["json"] = {"code": "ABCD-EFGH"}
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == 503, (path, response.status_code, response.text[:200])
            assert response.headers["content-type"].startswith("application/json"), path
            assert "Traceback" not in response.text and "SELECT" not in response.text
            assert response.headers["x-content-type-options"] == "nosniff", path
    away.dispose()


def test_a_fault_of_ours_is_a_plain_500_with_the_security_headers(settings, engine):
    from fastapi.testclient import TestClient

    from aftercare.app import create_app

    app = create_app(settings, engine)

    def broken() -> None:
        raise RuntimeError(PRIVATE)

    app.add_api_route("/api/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/broken")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal error"}
    assert PRIVATE not in response.text
    assert "content-security-policy" in response.headers


def test_test_notifications_reminders_and_messages_keep_to_a_human_pace(client, factory, patient):
    from aftercare.messages.service import MESSAGES_PER_WINDOW
    from aftercare.reminders.service import TESTS_PER_WINDOW

    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    phone = factory.patient_headers(enrolment)
    for _ in range(TESTS_PER_WINDOW - 1):
        assert client.post("/api/v1/me/test-notification", headers=phone).status_code == 202
    url = f"/api/v1/patients/{enrolment.id}/test-reminder"
    assert client.post(url, headers=nurse.headers).status_code == 202
    for refused in (
        client.post("/api/v1/me/test-notification", headers=phone),
        client.post(url, headers=nurse.headers),
    ):
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
    for n in range(MESSAGES_PER_WINDOW):
        sent = client.post("/api/v1/me/messages", json={"body": f"hello {n}"}, headers=phone)
        assert sent.status_code == 201
    again = client.post("/api/v1/me/messages", json={"body": "one more"}, headers=phone)
    assert again.status_code == 429 and "retry-after" in again.headers
    # The clinic can still answer; the other patient is not held back.
    thread = f"/api/v1/patients/{enrolment.id}/messages"
    assert client.post(thread, json={"body": "We will call"}, headers=nurse.headers).is_success
    assert client.post("/api/v1/me/messages", json={"body": "hi"}, headers=patient).is_success


def test_check_ins_are_never_throttled(client, patient):
    for n in range(30):
        sent = client.post("/api/v1/me/checkins", json=_checkin(pain=n % 11), headers=patient)
        assert sent.status_code == 201


def test_a_page_asked_too_often_says_so_kindly_with_retry_after(client, factory):
    import re

    enrolment = factory.enrolment(factory.nurse())
    path = enrolment.url.removeprefix("http://testserver")
    page = client.get(path).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post(path, data={"csrf_token": token.group(1)})
    form = client.get("/settings").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    answers = [client.post("/settings/test", data={"csrf_token": csrf.group(1)}) for _ in range(6)]
    assert answers[-1].status_code == 429
    assert "Please wait a little" in answers[-1].text
    assert "retry-after" in answers[-1].headers


def _phone_with_csrf(client, factory) -> str:
    import re

    enrolment = factory.enrolment(factory.nurse())
    path = enrolment.url.removeprefix("http://testserver")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert token
    assert client.post(path, data={"csrf_token": token.group(1)}).status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/messages").text)
    assert csrf
    return csrf.group(1)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "odd", ["%00", "%FF%FE", "%ED%A0%80"], ids=["nul", "not-utf8", "surrogate"]
)
def test_odd_text_in_a_page_form_is_422_naming_the_field(client, factory, engine, odd):
    from sqlalchemy import text

    csrf = _phone_with_csrf(client, factory)
    body = f"csrf_token={csrf}&body=hello{odd}there".encode()
    refused = client.post("/messages", content=body, headers=FORM)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "body"]
    assert "hello" not in refused.text
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM message")).scalar() == 0
    fine = client.post("/messages", content=f"csrf_token={csrf}&body=hello".encode(), headers=FORM)
    assert fine.status_code == 200


def test_odd_text_in_a_console_form_or_query_is_422(client, factory):
    from tests.console.conftest import csrf_of

    csrf = csrf_of(client.get("/console/sign-in").text)
    body = f"csrf_token={csrf}&email=a%00b@clinic.example&password=x".encode()
    refused = client.post("/console/sign-in", content=body, headers=FORM)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "email"]
    queried = client.get("/console/audit?nurse=%00")
    assert queried.status_code == 422
    assert queried.json()["detail"][0]["loc"] == ["query", "nurse"]


def test_odd_text_without_a_token_is_still_401_and_a_path_of_it_is_404(client):
    assert client.get("/api/v1/me/checkins?offset=%FF").status_code == 401
    assert client.get("/start/ab%00cd").status_code == 404
    multipart = client.post(
        "/api/v1/auth/token", files={"username": (None, "a"), "password": (None, "b")}
    )
    assert multipart.status_code == 415


def test_a_row_number_beyond_the_database_is_422(client, patient):
    for number in (2**31, 2**63, 2**64):
        seen = client.post(f"/api/v1/me/reminders/{number}/seen", headers=patient)
        assert seen.status_code == 422
    in_range = client.post(f"/api/v1/me/reminders/{2**31 - 1}/seen", headers=patient)
    assert in_range.status_code == 404
    assert client.post(f"/api/v1/me/reminders/{2**63}/seen").status_code == 401


def test_a_form_token_works_only_in_the_session_it_was_made_for(client, factory):
    """Double-submit alone trusts a cookie an attacker may plant; the token is bound to
    the session too, so a token (and cookie) taken from another session is refused."""
    from fastapi.testclient import TestClient

    attacker = TestClient(client.app)
    token_a = _phone_with_csrf(attacker, factory)
    nonce_a = attacker.cookies.get("csrf")
    assert nonce_a and token_a != nonce_a, "the token is not the cookie"

    victim = TestClient(client.app)
    own = _phone_with_csrf(victim, factory)
    victim.cookies.delete("csrf")
    victim.cookies.set("csrf", nonce_a)  # planted
    assert victim.cookies.get("csrf") == nonce_a
    forged = victim.post("/messages", data={"csrf_token": token_a, "body": "hi"})
    assert forged.status_code == 403
    # The victim's own page gives a token that works with the planted nonce: it is
    # bound to the session the form is sent in.
    fresh = victim.get("/messages").text.split('name="csrf_token" value="')[1].split('"')[0]
    assert fresh != own
    assert victim.post("/messages", data={"csrf_token": fresh, "body": "hi"}).status_code == 200


def test_a_console_token_dies_with_its_session(client, factory):
    from tests.console.conftest import csrf_of, sign_in

    nurse = factory.nurse()
    assert sign_in(client, nurse.email).status_code == 303
    before = csrf_of(client.get("/console/account").text)
    client.cookies.delete("console", path="/console")
    assert sign_in(client, nurse.email).status_code == 303  # a new session, same browser
    stale = client.post("/console/sign-out", data={"csrf_token": before}, follow_redirects=False)
    assert stale.status_code == 403
    now = csrf_of(client.get("/console/account").text)
    assert (
        client.post(
            "/console/sign-out", data={"csrf_token": now}, follow_redirects=False
        ).status_code
        == 303
    )


def test_no_page_or_answer_is_kept_by_a_cache(client, factory):
    """Every GET route of the app without parameters, as a signed-in phone and as a
    signed-in nurse: personal answers say no-store; only the app's shell (manifest,
    service worker) may be revalidated, and only static files are cached."""
    from fastapi.routing import iter_route_contexts
    from fastapi.testclient import TestClient

    from tests.console.conftest import sign_in

    nurse = factory.nurse(admin=True)
    console = TestClient(client.app)
    assert sign_in(console, nurse.email).status_code == 303
    phone = TestClient(client.app)
    _phone_with_csrf(phone, factory)
    paths = sorted(
        str(route.path)
        for route in iter_route_contexts(client.app.routes)
        if "GET" in (route.methods or ()) and "{" not in str(route.path)
    )
    assert len(paths) > 20
    shell = {"/manifest.webmanifest", "/sw.js", "/console/sw.js"}
    checked = 0
    for path in paths:
        if path.endswith("/events"):
            continue  # a live stream: no-store is checked with the queue's own tests
        visitor = console if path.startswith("/console") else phone
        headers = {"Authorization": f"Bearer {nurse.token}"} if path.startswith("/api/") else {}
        answer = visitor.get(path, headers=headers, follow_redirects=False)
        if answer.status_code >= 400:
            continue
        checked += 1
        expected = "no-cache" if path in shell else "no-store"
        assert expected in answer.headers.get("cache-control", ""), path
    assert checked > 20


def test_another_roles_token_is_401_whatever_the_body(client, factory, patient):
    nurse = factory.nurse()
    bad = {"pain": "lots"}
    as_nurse = client.post("/api/v1/me/checkins", json=bad, headers=nurse.headers)
    assert as_nurse.status_code == 401
    as_patient = client.post("/api/v1/patients", json={"alias": 3}, headers=patient)
    assert as_patient.status_code == 401
    assert client.post("/api/v1/me/checkins", json=bad, headers=patient).status_code == 422
    # /api/v1/messages... is not /api/v1/me: the patient's prefix is matched whole.
    assert (
        client.post("/api/v1/patients", json={"alias": 3}, headers=nurse.headers).status_code == 422
    )


def test_a_time_must_be_written_as_a_time(client, patient):
    sent = client.post("/api/v1/me/checkins", json=_checkin(recorded_at=0), headers=patient)
    assert sent.status_code == 422
    assert sent.json()["detail"][0]["loc"] == ["body", "recorded_at"]


def test_a_refusal_before_any_route_carries_the_security_headers(client):
    """The guards answer before any route; their answers are still kept by no cache and
    carry the request's id and the same policies as any other answer."""
    deep = "[" * 100 + "]" * 100
    refusals = [
        client.post("/api/v1/enroll", content=deep, headers={"Content-Type": "application/json"}),
        client.get("/today?x=%00"),
        client.post("/api/v1/enroll", content=b"x", headers={"Content-Length": "ten"}),
    ]
    assert [response.status_code for response in refusals] == [413, 422, 400]
    for response in refusals:
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert len(response.headers["x-request-id"]) == 16


def test_a_body_cut_short_reaches_no_route(client, patient):
    """A phone that loses its connection halfway through sending a check-in: no route
    sees half a body, nothing is stored, and the access line says 400, not a fault."""
    whole = json.dumps(_checkin()).encode()
    coming = [
        {"type": "http.request", "body": whole[:40], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive():
        return coming.pop(0)

    async def send(message):
        sent.append(message)

    path = "/api/v1/me/checkins"
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"),
               (b"content-length", str(len(whole)).encode()),
               (b"authorization", patient["Authorization"].encode())]  # fmt: skip
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}  # fmt: skip
    anyio.run(client.app, scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert client.get(path, headers=patient).json() == {"items": []}
