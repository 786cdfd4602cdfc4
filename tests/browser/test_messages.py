"""The patient's Messages page in real Chromium: readable offline, a reply queued and sent once."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser
from sqlmodel import Session, select

from aftercare.messages.models import Message
from tests.browser.conftest import PHONE, LiveServer, until_page
from tests.browser.test_accessibility import _violations
from tests.factories import PASSWORD

HELLO = "Hello, this is the clinic. How are you today?"
REPLY = "Thank you, I am fine"


def _enrol_with_a_message(phone, live_server: LiveServer, factory) -> str:
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery)
    written = factory.client.post(
        f"/api/v1/patients/{enrolment.id}/messages", json={"body": HELLO}, headers=nurse.headers
    )
    assert written.status_code == 201
    phone.goto(f"{live_server.url}/start/{enrolment.code}")
    phone.get_by_role("button", name="Open my space").click()
    phone.wait_for_url(f"{live_server.url}/today")
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    return str(enrolment.id)


def _thread(engine, patient_id: str) -> list[Message]:
    with Session(engine) as session:
        return list(
            session.exec(select(Message).where(Message.patient_id == uuid.UUID(patient_id)))
        )


def test_a_reply_made_offline_is_sent_once_when_back_online(phone, live_server, factory, engine):
    patient_id = _enrol_with_a_message(phone, live_server, factory)
    phone.goto(f"{live_server.url}/messages")
    assert phone.evaluate("Boolean(navigator.serviceWorker.controller)")
    assert phone.get_by_role("heading", level=1).inner_text() == "Messages"
    assert phone.get_by_text(HELLO).is_visible()
    assert phone.title() == "Care"

    phone.context.set_offline(True)
    phone.get_by_label("Your message").fill(REPLY)
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url("**/saved")  # the kept reply's page replaces the form (nav.js)
    assert phone.get_by_role("heading", level=1).inner_text() == "Saved on this phone"
    waiting = phone.locator("#waiting")
    waiting.wait_for(state="visible")
    assert "saved on this phone" in waiting.inner_text()
    assert [m.sender for m in _thread(engine, patient_id)] == ["nurse"]

    # Opened again offline, the thread shows the reply that waits, and the notice.
    phone.goto(f"{live_server.url}/messages")
    assert phone.get_by_text(HELLO).is_visible()
    phone.get_by_text(REPLY).wait_for()
    assert phone.get_by_text("You, waiting to be sent").is_visible()
    waiting.wait_for(state="visible")

    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    waiting.wait_for(state="hidden")
    phone.goto(f"{live_server.url}/messages")
    phone.evaluate("navigator.serviceWorker.ready.then(r => r.active.postMessage('send-waiting'))")
    phone.wait_for_timeout(500)
    phone.reload()
    replies = [m.body for m in _thread(engine, patient_id) if m.sender == "patient"]
    assert replies == [REPLY], "sent once, however often the app is opened"
    assert phone.get_by_text(REPLY).is_visible()
    assert phone.get_by_text("You, waiting to be sent").count() == 0


def test_messages_open_offline_even_if_never_visited_and_stay_unread(
    phone, live_server, factory, engine
):
    patient_id = _enrol_with_a_message(phone, live_server, factory)
    phone.reload()  # the app, on opening, fetches the patient's pages ahead
    kept = "caches.open('pages-v4').then(c => c.match('/messages')).then(Boolean)"
    until_page(phone, kept, "the messages to be kept on the phone")
    (hello,) = _thread(engine, patient_id)
    assert hello.read_at is None, "fetched ahead is not read"

    phone.context.set_offline(True)
    phone.goto(f"{live_server.url}/messages")
    assert phone.get_by_role("heading", level=1).inner_text() == "Messages"
    assert phone.get_by_text(HELLO).is_visible()
    phone.context.set_offline(False)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_messages_pages_pass_axe(browser: Browser, live_server, factory, language):
    context = browser.new_context(viewport=PHONE, bypass_csp=True, locale=language)
    page = context.new_page()
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery, language=language)
    factory.client.post(
        f"/api/v1/patients/{enrolment.id}/messages", json={"body": HELLO}, headers=nurse.headers
    )
    found: dict[str, list[dict[str, object]]] = {}
    page.goto(f"{live_server.url}/start/{enrolment.code}")
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/today")
    page.goto(f"{live_server.url}/messages")
    page.locator("textarea[name=body]").fill(REPLY)
    page.locator("form.reply button[type=submit]").click()
    page.get_by_text(REPLY).wait_for()  # the thread, with the reply, replaces the form
    found["/messages"] = _violations(page)
    page.locator("textarea[name=body]").evaluate("el => { el.required = false; el.value = ' '; }")
    page.locator("form.reply button[type=submit]").click()
    page.locator("#body-error").wait_for()
    found["/messages 422"] = _violations(page)

    console = context.new_page()
    console.goto(f"{live_server.url}/console/sign-in")
    console.locator("input[type=email]").fill(nurse.email)
    console.locator("input[type=password]").fill(PASSWORD)
    console.locator("form button[type=submit]").click()
    console.wait_for_url(f"{live_server.url}/console/**")
    for path in ("/console/messages", f"/console/patients/{enrolment.id}/messages"):
        console.goto(f"{live_server.url}{path}")
        assert console.url == f"{live_server.url}{path}", "signed in"
        found[path] = _violations(console)
    context.close()
    assert {name: v for name, v in found.items() if v} == {}, json.dumps(found, indent=1)
