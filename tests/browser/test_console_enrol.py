"""Enrolling a patient in real Chromium: the form's hours follow the procedure, the code prints."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import LiveServer
from tests.factories import PASSWORD, Factory

DESK: ViewportSize = {"width": 1280, "height": 900}


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESK)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/queue")


def test_the_hours_follow_the_procedure_until_the_nurse_types_them(
    live_server: LiveServer, factory: Factory, desk: Page
) -> None:
    sign_in(desk, live_server.url, factory.nurse().email)
    desk.goto(f"{live_server.url}/console/enrol")
    errors: list[str] = []
    desk.on("pageerror", lambda error: errors.append(str(error)))
    # The shipped procedures share their hours: give one others, as a clinic's own file may.
    desk.evaluate(
        """() => {
          const option = document.querySelector('#protocol option[value="day-surgery"]');
          option.dataset.wake = "06:30";
          option.dataset.sleep = "21:00";
        }"""
    )
    desk.get_by_label("Procedure").select_option("day-surgery")
    expect(desk.get_by_label("Wakes up at")).to_have_value("06:30")
    expect(desk.get_by_label("Goes to sleep at")).to_have_value("21:00")
    desk.get_by_label("Wakes up at").fill("09:15")
    desk.get_by_label("Procedure").select_option("hymenoplasty")
    expect(desk.get_by_label("Wakes up at")).to_have_value("09:15")  # the nurse's stays
    expect(desk.get_by_label("Goes to sleep at")).to_have_value("22:00")
    assert errors == []


def test_a_nurse_enrols_a_patient_and_gets_a_printable_code(
    live_server: LiveServer, factory: Factory, desk: Page
) -> None:
    sign_in(desk, live_server.url, factory.nurse().email)
    desk.goto(f"{live_server.url}/console/enrol")
    desk.get_by_label("Alias").fill("J.D.")
    desk.get_by_label("Date of surgery").fill("2027-05-04")
    desk.get_by_label("Time of surgery").fill("10:30")
    desk.get_by_label("Patient's time zone").fill("Europe/Istanbul")
    desk.locator("#prescribed-0-title").fill("Antibiotic")
    desk.locator("#prescribed-0-days").fill("1-5")
    desk.locator("#prescribed-0-times").fill("08:00, 20:00")
    desk.get_by_role("button", name="Enrol and show the code").click()
    expect(desk.get_by_role("heading", name="J.D. is enrolled")).to_be_visible()
    expect(desk.locator(".code-text")).to_have_text(re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$"))
    expect(desk.locator(".qr svg")).to_be_visible()
    expect(desk.get_by_role("button", name="Print")).to_be_visible()
    desk.get_by_role("link", name="Go to the patient's page").click()
    expect(desk.get_by_role("heading", name="J.D.", exact=True)).to_be_visible()
    expect(desk.get_by_text("Europe/Istanbul").first).to_be_visible()
