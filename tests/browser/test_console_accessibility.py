"""axe-core (WCAG 2.1 A and AA) finds nothing on any console page, in English and in Arabic."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, ViewportSize

from tests.browser.test_accessibility import _violations
from tests.factories import PASSWORD

DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def _red_check_in(factory, nurse) -> str:
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery)
    headers = factory.patient_headers(enrolment)
    body = {
        "id": str(uuid.uuid4()), "recorded_at": datetime.now(UTC).isoformat(), "pain": 9,
        "temperature_c": 38.4, "bleeding": "heavy", "discharge": "none", "urination": "normal",
        "allergy": "none", "nausea": False, "wants_contact": True, "note": "",
    }  # fmt: skip
    assert factory.client.post("/api/v1/me/checkins", json=body, headers=headers).status_code == 201
    return str(enrolment.id)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_every_console_page_passes_axe(browser: Browser, live_server, factory, language):
    nurse = factory.nurse(admin=True)
    patient_id = _red_check_in(factory, nurse)
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True, locale=language)
    page = context.new_page()
    found: dict[str, list[dict[str, object]]] = {}
    page.goto(f"{live_server.url}/console/sign-in")
    found["sign-in"] = _violations(page)
    page.locator("input[name=email]").fill(nurse.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/console/queue")
    for path in (
        "/console/queue",
        "/console/patients",
        f"/console/patients/{patient_id}",
        f"/console/patients/{patient_id}/messages",
        "/console/messages",
        "/console/enrol",
        "/console/report",
        "/console/audit",
        "/console/clinic",
        "/console/clinic/nurses",
        "/console/account",
    ):
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, path
        found[path] = _violations(page)
    page.goto(f"{live_server.url}/console/enrol")
    page.locator("form[action='/console/enrol'] button[type=submit]").click()  # empty: errors
    found["enrol with errors"] = _violations(page)
    context.close()
    assert {name: v for name, v in found.items() if v} == {}, json.dumps(found, indent=1)
