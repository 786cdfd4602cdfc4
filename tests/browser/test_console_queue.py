"""The flag queue in real Chromium: a red flag appears without a reload, then is dealt with."""

import json
import re
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import Engine

from aftercare.app import create_app
from aftercare.console import queue
from aftercare.settings import Settings
from tests.browser.conftest import CEILING_S, LiveServer, _free_port, started
from tests.factories import PASSWORD, Enrolment, Factory, NurseLogin

DESK: ViewportSize = {"width": 1280, "height": 900}


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:
    """A nurse's desktop browser; closed before the server stops, as a nurse leaves."""
    context = browser.new_context(viewport=DESK)
    page = context.new_page()
    yield page
    context.close()


def heavy_bleeding() -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "recorded_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "pain": 4, "temperature_c": 37.0, "bleeding": "heavy", "discharge": "none",
        "urination": "normal", "allergy": "none", "nausea": False, "wants_contact": False,
        "note": "",
    }  # fmt: skip


def api(url: str, headers: dict[str, str], body: object = None) -> tuple[int, object]:
    """A call to the live server's JSON API, as a patient's phone or a script makes it."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data, {**headers, "Content-Type": "application/json"}, method="POST" if data else "GET"
    )
    with urllib.request.urlopen(request, timeout=CEILING_S) as response:
        return int(response.status), json.loads(response.read())


def connected(page: Page) -> None:
    """Wait until the queue's event stream is open (a selector: the CSP forbids eval)."""
    expect(page.locator("html[data-queue-live=events]")).to_have_count(1)


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/queue")


def test_a_red_flag_appears_without_a_reload_then_is_acknowledged_and_resolved(
    live_server: LiveServer, desk: Page, factory: Factory
) -> None:
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    patient = factory.patient_headers(factory.enrolment(nurse, alias="K.L.", surgery_at=surgery))
    sign_in(desk, live_server.url, nurse.email)
    expect(desk.get_by_text("Nothing waiting")).to_be_visible()
    expect(desk).to_have_title(re.compile(r"^Flag queue · "))
    connected(desk)
    desk.evaluate("window.stillTheSamePage = true")

    code, answer = api(f"{live_server.url}/api/v1/me/checkins", patient, heavy_bleeding())
    assert code == 201 and isinstance(answer, dict) and answer["severity"] == "red"

    card = desk.locator("article.card-red")
    expect(card).to_have_count(1)
    expect(card.get_by_role("link", name="K.L.")).to_be_visible()
    expect(card).to_contain_text("Heavy bleeding")
    expect(card).to_contain_text("Day 3 of 28")
    expect(desk).to_have_title(re.compile(r"^\(1\) Flag queue · "))
    expect(desk.get_by_role("status")).to_have_text("New red flag")
    assert desk.evaluate("window.stillTheSamePage") is True, "the page was reloaded"

    card.get_by_role("button", name="Acknowledge").click()
    expect(desk.locator("article.card-red")).to_contain_text(f"Acknowledged by {nurse.email}")
    expect(desk).to_have_title(re.compile(r"^Flag queue · "))

    card = desk.locator("article.card-red")
    card.get_by_text("Resolve…").click()
    card.get_by_label("Advised to come in").check()
    card.get_by_label("Note (optional)").fill("Coming in at 3 pm.")
    card.get_by_role("button", name="Resolve", exact=True).click()
    expect(desk.get_by_text("Nothing waiting")).to_be_visible()
    _, resolved = api(f"{live_server.url}/api/v1/flags?status=resolved", nurse.headers)
    assert isinstance(resolved, dict)
    assert [item["resolution_note"] for item in resolved["items"]] == ["Coming in at 3 pm."]


def test_what_the_nurse_is_typing_survives_a_live_update(
    live_server: LiveServer, desk: Page, factory: Factory
) -> None:
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    first = factory.patient_headers(factory.enrolment(nurse, alias="A.A.", surgery_at=surgery))
    second = factory.patient_headers(factory.enrolment(nurse, alias="B.B.", surgery_at=surgery))
    url = f"{live_server.url}/api/v1/me/checkins"
    assert api(url, first, heavy_bleeding())[0] == 201
    sign_in(desk, live_server.url, nurse.email)
    connected(desk)
    card = desk.locator("article.card-red")
    card.get_by_text("Resolve…").click()
    note = card.get_by_label("Note (optional)")
    note.fill("Half-written")

    assert api(url, second, heavy_bleeding())[0] == 201

    expect(desk.locator("article.card-red")).to_have_count(2)
    note = desk.locator("article.card-red").first.get_by_label("Note (optional)")
    expect(note).to_have_value("Half-written")
    expect(note).to_be_focused()


def test_the_server_stops_quickly_once_the_queue_is_closed(
    settings: Settings,
    engine: Engine,
    browser: Browser,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A stream that outlived its page would end only when a heartbeat found the browser
    # gone, or at the end of its time: here both are far beyond the wait below, so only a
    # stream that ends with its page lets the server stop, however slow the machine.
    monkeypatch.setattr(queue, "HEARTBEAT_SECONDS", 100 * CEILING_S)
    monkeypatch.setattr(queue, "STREAM_SECONDS", 100 * CEILING_S)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"base_url": base}), engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started(server, thread)
    context = browser.new_context(viewport=DESK)
    page = context.new_page()
    sign_in(page, base, factory.nurse().email)
    connected(page)
    context.close()  # the event stream's connection goes with the page

    server.should_exit = True
    thread.join(timeout=CEILING_S)
    assert not thread.is_alive(), "an event stream kept the server from stopping"


def _check_in_from_the_phone(phone: Page, base: str, **answers: str) -> None:
    """A check-in sent from the phone's own form, with its session and form token."""
    phone.goto(f"{base}/checkin")
    fields = {
        name: phone.locator(f'input[type=hidden][name="{name}"]').first.input_value()
        for name in ("csrf_token", "id", "recorded_at")
    }
    calm = {"pain": "2", "temperature_c": "", "bleeding": "spotting", "discharge": "none",
            "urination": "normal", "allergy": "none", "nausea": "false", "note": ""}  # fmt: skip
    sent = phone.request.post(f"{base}/checkin", form={**calm, **answers, **fields})
    assert sent.ok, sent.status


def _french_phone(
    phone: Page, base: str, factory: Factory, nurse: NurseLogin, alias: str
) -> Enrolment:
    """A French-speaking patient two days after surgery, her phone signed in."""
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, alias=alias, surgery_at=surgery, language="fr")
    phone.goto(f"{base}/start/{enrolment.code}")
    phone.get_by_role("button", name="Open my space").click()  # the phone asks for English
    phone.wait_for_url(f"{base}/today")
    return enrolment


def test_a_french_patients_flags_reach_an_english_nurse_as_one_card_and_the_phone_says_seen(
    live_server: LiveServer, browser: Browser, phone: Page, factory: Factory
) -> None:
    base = live_server.url
    nurse = factory.nurse()
    _french_phone(phone, base, factory, nurse, "F.R.")
    for answers in ({"bleeding": "heavy"}, {"allergy": "rash"}, {"temperature_c": "38.6"}):
        _check_in_from_the_phone(phone, base, **answers)

    # The nurse's browser asks for French; the nurse chose English in My account.
    context = browser.new_context(viewport=DESK, locale="fr-FR")
    desk = context.new_page()
    desk.goto(f"{base}/console/sign-in")
    desk.locator('input[name="email"]').fill(nurse.email)
    desk.locator('input[name="password"]').fill(PASSWORD)
    desk.locator('form[action="/console/sign-in"] button[type="submit"]').click()
    desk.wait_for_url(f"{base}/console/queue")
    desk.goto(f"{base}/console/account")
    desk.locator('select[name="language"]').select_option("en")
    desk.locator('input[name="display_name"]').fill("Inès")
    desk.locator('form[action="/console/account"] button[type="submit"]').click()
    desk.wait_for_url(f"{base}/console/account?saved=1")

    desk.goto(f"{base}/console/queue")
    cards = desk.locator("article.card")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card.locator("li.card-flag")).to_have_count(3)
    expect(card).to_contain_text("Heavy bleeding")
    expect(card).to_contain_text("Rash or hives")
    expect(card).not_to_contain_text("Saignement")
    card.get_by_role("link", name="F.R.").click()
    expect(desk.locator("table.timeline")).to_contain_text("Rash or hives")
    expect(desk.locator("table.timeline")).not_to_contain_text("Éruption")

    desk.goto(f"{base}/console/queue")
    desk.locator("article.card").get_by_role("button", name="Acknowledge all").click()
    expect(desk.locator("article.card")).to_contain_text("Acknowledged by Inès")
    context.close()

    phone.goto(f"{base}/history")
    expect(phone.locator("table.history p.seen")).to_have_count(3)
    expect(phone.locator("table.history")).to_contain_text("Vu par votre clinique à")
    expect(phone.locator("body")).not_to_contain_text("Inès")


def test_a_visit_booked_by_the_nurse_appears_on_today_and_in_the_calendar_feed(
    live_server: LiveServer, desk: Page, phone: Page, factory: Factory
) -> None:
    base = live_server.url
    nurse = factory.nurse()
    enrolment = _french_phone(phone, base, factory, nurse, "V.S.")
    # The patient adds her phone's calendar in Settings.
    phone.goto(f"{base}/settings")
    phone.locator('input[name="channels"][value="calendar"]').check()
    phone.locator('form[action="/settings"] button[type="submit"]').click()
    feed_url = phone.get_by_label("Lien privé du calendrier").input_value()

    # The nurse books the visit on the patient page, on the patient's clock.
    visit = (datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=3)).date()
    sign_in(desk, base, nurse.email)
    desk.goto(f"{base}/console/patients/{enrolment.id}")
    desk.get_by_label("Date of the visit").fill(visit.isoformat())
    desk.get_by_label("Time of the visit").fill("14:30")
    desk.get_by_label("Place (optional)").fill("Salle 3, 2e étage")
    desk.get_by_role("button", name="Save the visit").click()
    expect(desk.get_by_role("status")).to_contain_text("The follow-up visit was saved")

    phone.goto(f"{base}/today")
    section = phone.locator("section.visit")
    expect(section).to_contain_text("Votre consultation de contrôle")
    expect(section).to_contain_text(f"{visit.day} ")
    expect(section).to_contain_text("à 14:30")
    expect(section).to_contain_text("Salle 3, 2e étage")

    feed = phone.request.get(feed_url)
    assert feed.ok, feed.status
    text = feed.text()
    assert f"DTSTART;TZID=Europe/Paris:{visit:%Y%m%d}T143000" in text
    assert "SUMMARY:Rendez-vous" in text
    assert "Salle" not in text and "contrôle" not in text
