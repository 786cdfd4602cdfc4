"""axe-core (WCAG 2.1 A and AA) finds nothing on any patient page, in English and in Arabic,
in the light theme and in the dark one (the phone's `prefers-color-scheme`)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import PHONE

AXE = Path(__file__).resolve().parents[2] / ".cache/npm/node_modules/axe-core/axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _violations(page: Page) -> list[dict[str, object]]:
    assert AXE.is_file(), "run `make test`: it installs axe-core"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "options => axe.run(document, options)",
        {"runOnly": {"type": "tag", "values": WCAG_21_AA}},
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_patient_page_passes_axe(
    browser: Browser, live_server, factory, language, color_scheme
):
    # axe is injected as a script of its own: let it past the pages' strict CSP.
    context = browser.new_context(
        viewport=PHONE, bypass_csp=True, locale=language, color_scheme=color_scheme
    )
    page = context.new_page()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, surgery_at=surgery, language=language)
    code = enrolment.code
    # Unread until /messages is opened: the pages before it show the count on the Messages tab.
    factory.client.post(
        f"/api/v1/patients/{enrolment.id}/messages", json={"body": "Hello"}, headers=nurse.headers
    )
    found: dict[str, list[dict[str, object]]] = {}

    page.goto(f"{live_server.url}/")
    found["landing"] = _violations(page)
    page.goto(f"{live_server.url}/start/{code}")
    found["start"] = _violations(page)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/today")
    page.locator(".tabbar summary").click()  # the bottom bar's More, open
    page.locator(".tabbar .more-list").wait_for()
    page.evaluate("document.getElementById('waiting').hidden = false")  # the offline notice
    found["/today, More open, notice shown"] = _violations(page)
    for path in ("/today", "/plan", "/checkin", "/messages", "/settings", "/warning-signs",
                 "/privacy", "/privacy/delete", "/offline", "/saved"):  # fmt: skip
        page.goto(f"{live_server.url}{path}")
        found[path] = _violations(page)
    page.goto(f"{live_server.url}/checkin")
    page.locator("input[name=pain][value='9']").check()
    for name, value in (("bleeding", "heavy"), ("discharge", "none"), ("urination", "normal"),
                        ("allergy", "none"), ("nausea", "false")):  # fmt: skip
        page.locator(f"input[name={name}][value={value}]").check()
    page.locator("button[type=submit]").click()
    page.wait_for_url("**/checkins/*")  # the answer replaces the form (nav.js)
    found["answer"] = _violations(page)
    page.goto(f"{live_server.url}/history")
    found["/history"] = _violations(page)
    page.goto(f"{live_server.url}/today")
    page.locator("form.tick button").first.click()  # a ticked item must read as well
    page.wait_for_selector("form.tick button[aria-pressed=true]")
    found["/today ticked"] = _violations(page)
    page.goto(f"{live_server.url}/privacy/delete")
    page.locator("button[type=submit]").click()
    page.locator("form button[type=submit]").wait_for(state="detached")
    page.wait_for_load_state()
    found["deleted"] = _violations(page)
    context.close()
    assert {page: v for page, v in found.items() if v} == {}, json.dumps(found, indent=1)


def test_the_check_itself_catches_a_violation(browser: Browser):
    page = browser.new_page()
    page.set_content('<html lang="en"><title>t</title><img src="x.png"><input type="text"></html>')
    ids = {violation["id"] for violation in _violations(page)}
    page.close()
    assert {"image-alt", "label"} <= ids


# Every class of patient.css that sets a colour, on one page: errors, notices and answer boxes
# with a link in them, buttons, the bottom bar with its unread count and More open.
SWATCHES = """<!doctype html><html lang="en"><head><title>t</title>
<link rel="stylesheet" href="/static/css/patient.css"></head><body>
<header class="bar"><span class="app-name">Care</span>
  <a class="quick-exit" href="#">Quick exit</a></header>
<nav class="tabbar" aria-label="Sections"><ul class="tabs">
  <li><a class="tab" href="#" aria-current="page"><span class="tab-label">Today</span></a></li>
  <li><a class="tab" href="#m"><span class="tab-icon" aria-hidden="true">
    <strong class="unread">3</strong></span><span class="tab-label">Messages</span></a></li>
  <li><details class="more" open>
    <summary class="tab" aria-current="true"><span class="tab-label">More</span></summary>
    <ul class="more-list"><li><a href="#a" aria-current="page">Settings</a></li>
      <li><a href="#b">My data</a></li></ul></details></li>
</ul></nav>
<main><h1>Title</h1><p>Text <a href="#c">a link</a></p>
<p class="waiting">Saved on this phone <a href="#d">link</a></p>
<section class="answer answer-none"><h2>Thank you</h2><p>Text <a href="#e">link</a></p></section>
<section class="answer answer-amber"><h2>A nurse</h2><p>Text <a href="#f">link</a></p>
  <ul class="reasons"><li>Reason</li></ul></section>
<section class="answer answer-red"><h2>Call now</h2>
  <p class="calls"><a class="call" href="#g">Call the clinic</a></p>
  <ul class="reasons"><li>Reason</li></ul><p class="error">Error</p></section>
<section class="news"><h2>New from today</h2><p>Text <a href="#h">link</a></p></section>
<ul class="items">
  <li class="item item-milestone"><div class="item-text"><span class="when">09:00</span>
    <strong class="title">Item</strong><p class="detail">Detail</p></div>
    <button class="tick-button" aria-pressed="false">Done</button></li>
  <li class="item item-done"><div class="item-text"><span class="when">10:00</span>
    <strong class="title">Done item</strong></div>
    <button class="tick-button" aria-pressed="true">Done</button></li></ul>
<section class="day day-today"><h2>Day 3</h2></section>
<p class="error">Please choose one.</p>
<label class="field invalid">Label <textarea></textarea></label>
<label class="field">Label <input type="text" value="x"></label>
<button class="primary">Send</button> <button>Turn off</button>
<button class="danger">Delete</button>
<a class="button primary" href="#i">Download</a> <a class="button danger" href="#j">Delete</a>
<details><summary>Details</summary><p>Text</p></details>
<table class="history"><tr><th>Day</th></tr><tr><td>3</td></tr></table>
</main><footer class="foot"><a href="#k">My data and privacy</a></footer></body></html>"""


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_every_colour_pair_of_the_patient_pages_has_enough_contrast(
    browser: Browser, live_server, color_scheme
):
    context = browser.new_context(viewport=PHONE, bypass_csp=True, color_scheme=color_scheme)
    page = context.new_page()
    page.goto(f"{live_server.url}/healthz")
    page.set_content(SWATCHES.replace('href="/static', f'href="{live_server.url}/static'))
    page.wait_for_function("getComputedStyle(document.querySelector('.call')).display === 'block'")
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert dark == (color_scheme == "dark")
    violations = _violations(page)
    context.close()
    assert violations == [], json.dumps(violations, indent=1)
