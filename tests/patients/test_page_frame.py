"""Every patient page's frame (the bar, the tab bar, the notices about answers kept on the
phone) is the same for every patient with the same language, clinic, page and unread
count, so it is rendered once per set of those and kept (`fragment` in aftercare.web).
Kept or not, each phone must get its own: its language and direction, its clinic's
neutral app name, its page marked in the tab bar."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from aftercare.i18n import gettext_for
from aftercare.phone.shell import templates
from tests.console.conftest import Console, csrf_of, sign_in
from tests.factories import Factory, NurseLogin


def _phone(client: TestClient, factory: Factory, nurse: NurseLogin, language: str) -> TestClient:
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery, language=language)
    phone = TestClient(client.app)
    path = enrolment.url.removeprefix("http://testserver")
    opened = phone.post(path, data={"csrf_token": csrf_of(phone.get(path).text)})
    assert opened.status_code == 200 and opened.url.path == "/today"
    return phone


def _frame(html: str) -> str:
    """The page up to its own content."""
    return html[: html.index('<main id="main">')]


def test_each_phone_gets_the_frame_of_its_own_language_clinic_and_page(client, factory):
    north = factory.nurse("north")
    south = factory.nurse("south", admin=True)
    admin = Console(TestClient(client.app), south)
    assert sign_in(admin.client, south.email).status_code == 303
    clinic = {"name": "South", "emergency_number": "112", "work_start": "08:00",
              "work_end": "18:00", "ack_target_minutes": "15",
              "session_timeout_minutes": "15", "app_name": "Daily notes"}  # fmt: skip
    assert admin.post("/console/clinic", **clinic).status_code == 303
    phones = [
        (_phone(client, factory, north, "fr"), "fr", "ltr", "Care"),
        (_phone(client, factory, south, "ar"), "ar", "rtl", "Daily notes"),
        (_phone(client, factory, north, "en"), "en", "ltr", "Care"),
        (_phone(client, factory, south, "fr"), "fr", "ltr", "Daily notes"),
    ]
    for _round in range(2):  # the second round is served from the kept frames
        for phone, language, direction, app_name in phones:
            words = gettext_for(language).gettext
            for path, tab in (("/today", "Today"), ("/plan", "My plan")):
                page = phone.get(path)
                assert page.status_code == 200
                frame = _frame(page.text)
                assert f'<html lang="{language}" dir="{direction}">' in frame
                assert f"<title>{app_name}</title>" in frame
                assert f'<span class="app-name">{app_name}</span>' in frame
                assert words("Quick exit") in frame
                current = re.findall(r'<a class="tab" href="([^"]+)" aria-current="page">', frame)
                assert current == [path], (language, path)
                label = f'href="{path}" aria-current="page"><span class="tab-icon icon-'
                assert label in frame and f'<span class="tab-label">{words(tab)}</span>' in frame
                assert words("Some answers on this phone could not be sent to the clinic.") in (
                    page.text
                )


def test_the_frame_is_rendered_once_and_kept(client, factory):
    phone = _phone(client, factory, factory.nurse(), "tr")
    kept: Any = templates.languages["tr"].globals["fragment"]  # an lru_cache
    assert phone.get("/today").status_code == 200  # the bar, the tabs, the notices: kept
    before = kept.cache_info()
    second = phone.get("/today")
    after = kept.cache_info()
    assert second.status_code == 200
    assert after.misses == before.misses, "nothing of the frame is rendered again"
    # The bar, the tabs, the notices, and Today's list of items (tests/patients/test_today_list.py).
    assert after.hits == before.hits + 4
