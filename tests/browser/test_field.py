"""The patient's phone in the field, in real Chromium: answers made offline from a cached
page are all kept and sent once, an offline red answer offers the right call first, Quick
exit leaves no way back, Today follows the check-in, and numbers read left to right."""

import json
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page
from sqlalchemy import text
from sqlmodel import Session, col, select

from aftercare.accounts.models import Clinic
from aftercare.checkins.models import CheckIn
from tests.browser.conftest import LiveServer, until, until_page

CALM = {"pain": "2", "bleeding": "spotting", "discharge": "none", "urination": "normal",
        "allergy": "none", "nausea": "false"}  # fmt: skip


def _enrol(
    phone: Page, live_server: LiveServer, factory, clinic_phone: str | None = None, **changes
) -> str:
    nurse = factory.nurse()
    if clinic_phone:
        _set_clinic_phone(factory.engine, clinic_phone)
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery, **changes)
    phone.goto(f"{live_server.url}/start/{enrolment.code}")
    phone.locator("form button[type=submit]").click()
    phone.wait_for_url(f"{live_server.url}/today")
    return str(enrolment.id)


def _controlled(phone: Page) -> None:
    """The service worker controls the page and has fetched the patient's pages ahead."""
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()
    assert phone.evaluate("Boolean(navigator.serviceWorker.controller)")
    until_page(
        phone,
        "caches.open('pages-v4').then(c => Promise.all(['/checkin', '/saved', "
        "'/checkin/rules.json'].map(p => c.match(p)))).then(all => all.every(Boolean))",
        "the check-in, the saved page and the rules to be kept on the phone",
    )


def _fill_check_in(phone: Page, answers: dict[str, str]) -> None:
    for name, value in answers.items():
        phone.locator(f"input[name={name}][value='{value}']").check()


def _stored(engine) -> list[tuple[int, datetime]]:
    with Session(engine) as session:
        rows = session.exec(select(CheckIn).order_by(col(CheckIn.recorded_at)))
        return [(int(row.pain or 0), row.recorded_at) for row in rows if row.pain is not None]


def _send_waiting(phone: Page) -> None:
    phone.evaluate("navigator.serviceWorker.ready.then(r => r.active.postMessage('send-waiting'))")


def test_two_check_ins_made_offline_from_one_cached_page_are_both_kept_and_sent_once(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory)
    _controlled(phone)
    phone.context.set_offline(True)
    pressed = []
    for pain in ("2", "7"):
        phone.goto(f"{live_server.url}/checkin")  # the same copy of the page, from the cache
        _fill_check_in(phone, {**CALM, "pain": pain})
        before = datetime.now(UTC)
        phone.get_by_role("button", name="Send").click()
        phone.wait_for_url("**/saved?checkin=*")
        pressed.append((before, datetime.now(UTC)))
        phone.wait_for_timeout(1100)  # the two answers are made at different seconds
    assert phone.evaluate("self.outbox.count()") == 2
    assert _stored(engine) == []
    phone.context.set_offline(False)
    _send_waiting(phone)
    until(lambda: len(_stored(engine)) == 2, phone, "both check-ins to arrive")
    _send_waiting(phone)
    phone.goto(f"{live_server.url}/today")
    until(lambda: phone.evaluate("self.outbox.count()") == 0, phone, "the queue to empty")
    stored = _stored(engine)
    assert [pain for pain, _ in stored] == [2, 7], "each once, in the order made"
    first, second = (moment for _, moment in stored)
    assert second - first >= timedelta(seconds=1), "each with the time Send was pressed"
    # While Send was being pressed (to the second), not when it reached the server.
    for moment, (before, after) in zip((first, second), pressed, strict=True):
        assert before - timedelta(seconds=1) <= moment <= after, (moment, before, after)


def test_an_offline_check_in_from_an_old_copy_of_the_page_after_an_online_one_is_stored(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory)
    _controlled(phone)
    phone.goto(f"{live_server.url}/checkin")
    _fill_check_in(phone, CALM)
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url("**/checkins/*")
    assert len(_stored(engine)) == 1
    phone.context.set_offline(True)
    phone.goto(f"{live_server.url}/checkin")  # the copy kept before the first check-in
    _fill_check_in(phone, {**CALM, "pain": "5"})
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url("**/saved?checkin=*")
    phone.context.set_offline(False)
    _send_waiting(phone)
    until(lambda: len(_stored(engine)) == 2, phone, "the second check-in")
    assert sorted(pain for pain, _ in _stored(engine)) == [2, 5]


def test_a_check_in_kept_without_script_ids_is_renamed_not_refused(
    phone, live_server, factory, engine
):
    """A form sent twice with one id and other answers (no JavaScript): both are kept."""
    _enrol(phone, live_server, factory)
    phone.goto(f"{live_server.url}/checkin")
    form_id = phone.locator("input[name=id]").input_value()
    for pain in ("3", "6"):
        status = phone.evaluate(
            """([id, pain]) => fetch('/checkin', {method: 'POST', credentials: 'same-origin',
                 headers: {Accept: 'application/json'},
                 body: new URLSearchParams({csrf_token: document.querySelector(
                   'input[name=csrf_token]').value, id, recorded_at: new Date().toISOString(),
                   pain, bleeding: 'none', discharge: 'none', urination: 'normal',
                   allergy: 'none', nausea: 'false'})}).then(r => r.status)""",
            [form_id, pain],
        )
        assert status == 201
    assert sorted(pain for pain, _ in _stored(engine)) == [3, 6]


def test_an_answer_the_server_refuses_is_shown_to_the_patient_not_dropped(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory)
    _controlled(phone)
    phone.evaluate(
        """self.outbox.put('checkins', {id: crypto.randomUUID(), body: new URLSearchParams({
             csrf_token: 'from-another-session', id: crypto.randomUUID(),
             recorded_at: new Date().toISOString(), pain: '8', bleeding: 'none',
             discharge: 'none', urination: 'normal', allergy: 'none', nausea: 'false'
           }).toString()})"""
    )
    _send_waiting(phone)
    unsent = phone.locator("#unsent")
    unsent.wait_for(state="visible")
    assert "could not be sent" in unsent.inner_text() and "8/10" in unsent.inner_text()
    assert _stored(engine) == []
    phone.reload()
    unsent.wait_for(state="visible")  # still there until the patient says so
    unsent.get_by_role("button").click()
    unsent.wait_for(state="hidden")


def _set_clinic_phone(engine, number: str) -> None:
    with Session(engine) as session:
        for clinic in session.exec(select(Clinic)):
            clinic.phone = number
            session.add(clinic)
        session.commit()


def test_offline_heavy_bleeding_is_answered_on_the_phone_with_the_emergency_call_first(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory, clinic_phone="+33 1 23 45 67 89")
    _controlled(phone)
    phone.context.set_offline(True)
    phone.goto(f"{live_server.url}/checkin")
    _fill_check_in(phone, {**CALM, "pain": "6", "bleeding": "heavy"})
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url("**/saved?checkin=*")
    answer = phone.locator("#offline-answer")
    answer.wait_for(state="visible")
    assert answer.get_by_role("heading").inner_text() == "Please call now"
    calls = answer.locator(".call:visible")
    assert calls.count() == 2
    assert calls.nth(0).get_attribute("href") == "tel:112", "the emergency number first"
    assert calls.nth(1).get_attribute("href") == "tel:+33123456789"
    assert "Call 112 now" in answer.inner_text()
    phone.context.set_offline(False)
    _send_waiting(phone)
    until(lambda: len(_stored(engine)) == 1, phone, "the check-in to arrive")
    # Sent from the queue: Today shows the server's answer until the patient has read it.
    phone.goto(f"{live_server.url}/today")
    kept = phone.locator("section.kept")
    assert "reached the clinic" in kept.inner_text()
    assert kept.locator("a.call").first.get_attribute("href") == "tel:112"
    kept.get_by_role("button", name="I have read this").click()
    phone.locator("section.kept").wait_for(state="detached")
    phone.reload()
    assert phone.locator("section.kept").count() == 0, "read once, not shown again"


def test_today_follows_a_red_check_in_until_the_clinic_has_seen_it(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory, clinic_phone="+33 1 23 45 67 89")
    phone.goto(f"{live_server.url}/checkin")
    _fill_check_in(phone, {**CALM, "pain": "9"})
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url("**/checkins/*")
    assert phone.get_by_role("heading", level=1).inner_text() == "Please call now"
    phone.get_by_role("link", name="Back to today").click()
    phone.wait_for_url(f"{live_server.url}/today")
    section = phone.locator("section.checking-in")
    assert section.get_by_role("heading", level=2).inner_text().startswith("Checked in at ")
    assert "Please call now" in section.inner_text()
    assert section.locator("a.call").count() == 2
    assert "Next check-in:" in section.inner_text()
    # The check-in item is ticked by checking in, with no Done button of its own.
    assert phone.locator("form.tick[data-item$='-check-in']").count() == 0
    assert phone.locator("form.tick[data-item$='-about-your-surgery']").count() == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE flag SET status = 'acknowledged'"))
    phone.reload()
    assert "The clinic has seen your answers." in section.inner_text()
    assert section.locator("a.call").count() == 0


def test_quick_exit_then_back_five_times_never_shows_the_app(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    phone.get_by_role("link", name="My plan").click()
    phone.wait_for_url(f"{live_server.url}/plan")
    phone.locator(".tabbar summary").click()
    phone.get_by_role("link", name="My check-ins").click()
    phone.wait_for_url(f"{live_server.url}/history")
    phone.get_by_role("link", name="Quick exit").click()
    phone.wait_for_url(f"{live_server.url}/healthz")
    for _ in range(5):
        phone.go_back()
        path = phone.evaluate("location.pathname")
        assert path in ("blank", "/healthz") or phone.url == "about:blank", phone.url
        assert phone.evaluate("document.querySelector('.tabbar') === null")


def test_escape_pressed_twice_is_a_quick_exit(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    phone.keyboard.press("Escape")
    phone.keyboard.press("Escape")
    phone.wait_for_url(f"{live_server.url}/healthz")


def test_patient_pages_are_never_stored_by_the_browser(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    for path in ("/today", "/plan", "/checkin", "/history", "/settings", "/saved"):
        response = phone.request.get(f"{live_server.url}{path}")
        assert response.headers["cache-control"] == "no-store", path


def test_arabic_phone_numbers_on_call_buttons_read_in_dialling_order(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory, clinic_phone="+33 1 23 45 67 89", language="ar")
    phone.goto(f"{live_server.url}/warning-signs")
    _assert_digit_groups_left_to_right(phone, "a.call[href='tel:+33123456789'] bdi")
    phone.goto(f"{live_server.url}/checkin")
    _fill_check_in(phone, {**CALM, "pain": "9"})
    phone.locator("form.checkin button[type=submit]").click()
    phone.wait_for_url("**/checkins/*")
    _assert_digit_groups_left_to_right(phone, "a.call[href='tel:+33123456789'] bdi")
    _assert_digit_groups_left_to_right(phone, ".answer p bdi:has-text('+33')")


def _assert_digit_groups_left_to_right(phone: Page, selector: str) -> None:
    """Each group of digits of the number starts to the right of the one before it."""
    lefts = phone.locator(selector).first.evaluate(
        """bdi => {
          const range = document.createRange();
          const node = bdi.firstChild;
          const lefts = [];
          for (const match of node.textContent.matchAll(/\\+?\\d+/g)) {
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            lefts.push(range.getBoundingClientRect().left);
          }
          return lefts;
        }"""
    )
    assert len(lefts) == 6, json.dumps(lefts)
    assert lefts == sorted(lefts), f"digit groups out of dialling order: {lefts}"
