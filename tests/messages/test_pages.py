"""The thread as pages: the patient's Messages page (no JavaScript) and the console's."""

import re
import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from aftercare.audit.models import AuditEvent
from tests.console.conftest import Console, csrf_of, sign_in
from tests.messages.helpers import enrol, nurse_writes, patient_writes, stored

PRIVATE = "Please do not lift anything heavy this week"


def _phone(client: TestClient, factory, nurse, **changes) -> tuple[TestClient, str]:
    """A second browser, the patient's phone, signed in through the enrolment link."""
    enrolment = factory.enrolment(nurse, **changes)
    phone = TestClient(client.app)
    path = enrolment.url.removeprefix("http://testserver")
    page = phone.get(path)
    opened = phone.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert opened.status_code == 303
    return phone, enrolment.id


def _reply_form(html: str) -> dict[str, str]:
    form = html[html.index('action="/messages"') :]
    fields = dict(re.findall(r'name="(csrf_token|id)" value="([^"]+)"', form))
    assert set(fields) == {"csrf_token", "id"}, form
    return fields


def _title(html: str) -> str:
    match = re.search(r"<title>([^<]*)</title>", html)
    assert match
    return match.group(1)


def test_the_patient_reads_the_clinics_message_in_her_language(client, factory, console):
    phone, patient_id = _phone(client, factory, console.nurse, language="fr")
    nurse_writes(client, console.nurse, patient_id, PRIVATE)

    page = phone.get("/messages")

    assert page.status_code == 200
    assert _title(page.text) == "Care", "the title stays the clinic's neutral app name"
    assert PRIVATE in page.text
    assert 'lang="fr"' in page.text
    assert 'href="/messages" aria-current="page"' in page.text, "a tab of its own"
    assert "De votre clinique" in page.text or "From your clinic" in page.text


def test_opening_the_page_marks_the_clinics_messages_read_but_a_prefetch_does_not(client, factory):
    nurse = factory.nurse()
    phone, patient_id = _phone(client, factory, nurse)
    nurse_writes(client, nurse, patient_id, "Hello")
    thread = f"/api/v1/patients/{patient_id}/messages"

    ahead = phone.get("/messages", headers={"Purpose": "prefetch"})
    assert ahead.status_code == 200 and "Hello" in ahead.text
    assert client.get(thread, headers=nurse.headers).json()["items"][0]["read_at"] is None

    seen = phone.get("/messages")
    assert "<strong>New</strong>" in seen.text, "shown as new the first time"
    assert client.get(thread, headers=nurse.headers).json()["items"][0]["read_at"] is not None
    assert "<strong>New</strong>" not in phone.get("/messages").text


def test_the_patient_replies_without_javascript_and_a_resend_is_stored_once(
    client, factory, engine
):
    nurse = factory.nurse()
    phone, patient_id = _phone(client, factory, nurse)
    form = _reply_form(phone.get("/messages").text)

    sent = phone.post("/messages", data={**form, "body": "Thank you"}, follow_redirects=False)
    again = phone.post("/messages", data={**form, "body": "Thank you"}, follow_redirects=False)

    assert sent.status_code == again.status_code == 303
    assert sent.headers["location"] == "/messages#latest"
    assert stored(engine, patient_id) == [("patient", "Thank you")]
    page = phone.get("/messages").text
    assert "Thank you" in page and _reply_form(page)["id"] != form["id"], "a new id each time"


def test_an_old_copy_of_the_page_sending_other_words_loses_nothing(client, factory, engine):
    nurse = factory.nurse()
    phone, patient_id = _phone(client, factory, nurse)
    form = _reply_form(phone.get("/messages").text)
    phone.post("/messages", data={**form, "body": "first"})
    for _ in range(2):  # the same old page, sent twice
        phone.post("/messages", data={**form, "body": "second"})
    assert stored(engine, patient_id) == [("patient", "first"), ("patient", "second")]


def test_a_reply_replayed_by_the_service_worker_gets_a_plain_answer(client, factory, engine):
    nurse = factory.nurse()
    phone, patient_id = _phone(client, factory, nurse)
    form = _reply_form(phone.get("/messages").text)
    replay = {"Accept": "application/json"}
    for _ in range(2):
        response = phone.post("/messages", data={**form, "body": "sent later"}, headers=replay)
        assert response.status_code == 204
    assert stored(engine, patient_id) == [("patient", "sent later")]


def test_the_reply_form_refuses_a_missing_or_wrong_csrf_token(client, factory, engine):
    nurse = factory.nurse()
    phone, _ = _phone(client, factory, nurse)
    form = _reply_form(phone.get("/messages").text)
    missing = phone.post("/messages", data={"id": form["id"], "body": "hi"})
    wrong = phone.post("/messages", data={**form, "csrf_token": "forged", "body": "hi"})
    assert missing.status_code == wrong.status_code == 403
    assert stored(engine) == []


def test_an_empty_reply_is_a_kind_422_page_naming_the_field(client, factory, engine):
    nurse = factory.nurse()
    phone, _ = _phone(client, factory, nurse)
    form = _reply_form(phone.get("/messages").text)
    empty = phone.post("/messages", data={**form, "body": "  "})
    assert empty.status_code == 422
    assert "Please write a message first." in empty.text
    assert 'name="body"' in empty.text and 'aria-invalid="true"' in empty.text
    long = phone.post("/messages", data={**form, "body": "x" * 2001})
    assert long.status_code == 422 and "2000 characters" in long.text
    assert stored(engine) == []


def test_without_a_session_the_page_leads_to_the_landing_page(client):
    response = client.get("/messages", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_the_nurse_reads_and_answers_a_thread_in_the_console(
    client, factory, console: Console, engine
):
    phone, patient_id = _phone(client, factory, console.nurse, alias="K.L.")
    form = _reply_form(phone.get("/messages").text)
    phone.post("/messages", data={**form, "body": "Could someone contact me?"})
    path = f"/console/patients/{patient_id}/messages"

    page = console.client.get(path)
    assert page.status_code == 200
    assert "Messages with K.L." in page.text and "Could someone contact me?" in page.text
    assert page.headers["cache-control"] == "no-store"
    answered = console.post(path, body=PRIVATE)
    assert answered.status_code == 303
    assert answered.headers["location"] == f"{path}#latest"

    assert stored(engine, patient_id) == [
        ("patient", "Could someone contact me?"),
        ("nurse", PRIVATE),
    ]
    thread = console.client.get(path).text
    assert console.nurse.email in thread and "not read yet" in thread
    patient_page = phone.get("/messages").text
    assert "From your clinic" in patient_page and console.nurse.email not in patient_page
    with Session(engine) as session:
        views = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "patient.messages.viewed",
                AuditEvent.subject_id == patient_id,
            )
        ).all()
    assert len(views) == 2 and all(view.client for view in views)


def test_the_console_form_refuses_a_missing_or_wrong_csrf_token(
    client, factory, console: Console, engine
):
    enrolment, _ = enrol(factory, console.nurse)
    path = f"/console/patients/{enrolment.id}/messages"
    missing = console.client.post(path, data={"body": "hello"})
    wrong = console.client.post(path, data={"csrf_token": "forged", "body": "hello"})
    assert missing.status_code == wrong.status_code == 403
    assert stored(engine) == []


def test_an_empty_console_message_is_a_422_page_naming_the_field(
    client, factory, console: Console, engine
):
    enrolment, _ = enrol(factory, console.nurse)
    response = console.post(f"/console/patients/{enrolment.id}/messages", body="")
    assert response.status_code == 422
    assert "Please write a message first." in response.text and 'name="body"' in response.text
    assert stored(engine) == []


def test_a_nurse_of_another_clinic_gets_404_in_the_console(client, factory, engine):
    owner = factory.nurse()
    enrolment, phone = enrol(factory, owner)
    patient_writes(client, phone, "for my own clinic only")
    stranger = factory.nurse("south")
    assert sign_in(client, stranger.email).status_code == 303
    south = Console(client, stranger)
    path = f"/console/patients/{enrolment.id}/messages"
    assert south.client.get(path).status_code == 404
    assert south.post(path, body="hello").status_code == 404
    assert south.client.get(f"/console/patients/{uuid.uuid4()}/messages").status_code == 404
    inbox = south.client.get("/console/messages")
    assert inbox.status_code == 200 and "for my own clinic only" not in inbox.text
    assert str(enrolment.id) not in inbox.text
    assert stored(engine, enrolment.id) == [("patient", "for my own clinic only")]


def test_the_inbox_lists_unread_threads_first_then_the_most_recent(
    client, factory, console: Console
):
    quiet, quiet_phone = enrol(factory, console.nurse, alias="A.A.")
    waiting, waiting_phone = enrol(factory, console.nurse, alias="B.B.")
    patient_writes(client, quiet_phone, "an old question")
    client.get(f"/api/v1/patients/{quiet.id}/messages", headers=console.nurse.headers)
    patient_writes(client, waiting_phone, "one")
    patient_writes(client, waiting_phone, "two")
    nurse_writes(client, console.nurse, quiet.id, "the latest word")

    inbox = console.client.get("/console/messages").text

    assert inbox.index("B.B.") < inbox.index("A.A."), "unread first, though older"
    assert "2 unread" in inbox and "1 unread" not in inbox
    console.client.get(f"/console/patients/{waiting.id}/messages")
    inbox = console.client.get("/console/messages").text
    assert "unread" not in inbox.split("<tbody>")[1]
    assert inbox.index("A.A.") < inbox.index("B.B."), "then the most recent first"


def test_the_console_pages_need_a_signed_in_nurse(client, factory):
    enrolment, _ = enrol(factory, factory.nurse())
    for path in ("/console/messages", f"/console/patients/{enrolment.id}/messages"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/sign-in")


def test_every_page_of_the_phone_shows_the_unread_count_on_the_messages_tab(client, factory):
    from tests.patients.test_pages import _csrf

    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse)
    path = enrolment.url.removeprefix("http://testserver")
    client.post(path, data={"csrf_token": _csrf(client.get(path).text)})
    for body in ("Hello", "How are you feeling today?"):
        written = client.post(f"/api/v1/patients/{enrolment.id}/messages", json={"body": body},
                              headers=nurse.headers)  # fmt: skip
        assert written.status_code == 201
    for page in ("/today", "/plan", "/history", "/settings", "/warning-signs"):
        assert "(2 new)" in client.get(page).text, page
    client.get("/messages")  # reading them
    assert "(2 new)" not in client.get("/plan").text


def test_a_reply_kept_offline_is_placed_when_it_was_written(client, factory, engine):
    from datetime import UTC, datetime, timedelta

    from aftercare.messages.models import Message

    nurse = factory.nurse()
    phone, _patient_id = _phone(client, factory, nurse)
    written = datetime.now(UTC) - timedelta(minutes=2)
    for body, at in (
        ("written offline", written.isoformat()),
        ("wrong clock", "2099-01-01T00:00Z"),
    ):
        form = _reply_form(phone.get("/messages").text)
        form = {**form, "id": str(uuid.uuid4()), "body": body, "written_at": at}
        assert phone.post("/messages", data=form, follow_redirects=False).status_code == 303
    with Session(engine) as session:
        placed = {m.body: m.created_at for m in session.exec(select(Message))}
    assert abs(placed["written offline"] - written) < timedelta(seconds=1)
    assert abs(placed["wrong clock"] - datetime.now(UTC)) < timedelta(minutes=5)
