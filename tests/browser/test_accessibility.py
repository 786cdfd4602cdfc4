"""axe-core (WCAG 2.1 A and AA) finds nothing on any patient page, in English and in Arabic."""

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


@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_patient_page_passes_axe(browser: Browser, live_server, factory, language):
    # axe is injected as a script of its own: let it past the pages' strict CSP.
    context = browser.new_context(viewport=PHONE, bypass_csp=True, locale=language)
    page = context.new_page()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    code = factory.enrolment(factory.nurse(), surgery_at=surgery, language=language).code
    found: dict[str, list[dict[str, object]]] = {}

    page.goto(f"{live_server.url}/")
    found["landing"] = _violations(page)
    page.goto(f"{live_server.url}/start/{code}")
    found["start"] = _violations(page)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/today")
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
    found["answer"] = _violations(page)
    page.goto(f"{live_server.url}/history")
    found["/history"] = _violations(page)
    page.goto(f"{live_server.url}/today")
    page.locator("form.tick button").first.click()  # a ticked item must read as well
    page.wait_for_selector("form.tick button[aria-pressed=true]")
    found["/today ticked"] = _violations(page)
    page.goto(f"{live_server.url}/privacy/delete")
    page.locator("button[type=submit]").click()
    found["deleted"] = _violations(page)
    context.close()
    assert {page: v for page, v in found.items() if v} == {}, json.dumps(found, indent=1)


def test_the_check_itself_catches_a_violation(browser: Browser):
    page = browser.new_page()
    page.set_content('<html lang="en"><title>t</title><img src="x.png"><input type="text"></html>')
    ids = {violation["id"] for violation in _violations(page)}
    page.close()
    assert {"image-alt", "label"} <= ids
