"""The patient's pages on small phones, in real Chromium: nothing scrolls sideways at 320 and
360 px in English, French, Arabic (right to left) and Turkish, every section of the bottom bar
is on the screen (those under More once it is open), the unread count shows, and the text can
grow to 200 % without the page scrolling sideways."""

import json
import uuid
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page

from tests.browser.conftest import LiveServer

LANGUAGES = ("en", "fr", "ar", "tr")
PHONES = ({"width": 320, "height": 568}, {"width": 360, "height": 640})
# Messages last: opening it reads the clinic's message, and the other pages show it unread.
PAGES = ("/today", "/plan", "/checkin", "/history", "/warning-signs", "/settings", "/privacy",
         "/messages")  # fmt: skip

# What a page does wrong on this screen: sideways scrolling (with the elements that stick
# out), and any given element that is not wholly on the screen or is covered by another.
PROBLEMS = """selector => {
  const width = window.innerWidth, height = window.innerHeight;
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > width) {
    const wide = [...document.body.querySelectorAll("*")]
      .filter(el => { const r = el.getBoundingClientRect();
                      return r.width && (r.right > width + 0.5 || r.left < -0.5); })
      .slice(-3)
      .map(el => `${el.tagName.toLowerCase()}.${el.className}`);
    found.push(`scrolls sideways: ${root.scrollWidth} > ${width} (${wide.join(", ")})`);
  }
  for (const el of document.querySelectorAll(selector)) {
    const r = el.getBoundingClientRect();
    const name = `${el.tagName.toLowerCase()} ${el.getAttribute("href") || el.className}`;
    if (!r.width || !r.height) { found.push(`${name} is not shown`); continue; }
    if (r.left < -0.5 || r.right > width + 0.5 || r.top < -0.5 || r.bottom > height + 0.5) {
      found.push(`${name} is off the screen: ${JSON.stringify(r)}`);
      continue;
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(el === hit || el.contains(hit) || hit.contains(el))) {
      const by = hit ? `${hit.tagName.toLowerCase()}.${hit.className}` : "nothing";
      found.push(`${name} is covered by ${by}`);
    }
  }
  return found;
}"""
TABS = ".tabbar .tabs > li > a.tab, .tabbar summary.tab"
UNDER_MORE = ".tabbar .more-list a"
UNREAD = ".tabbar a.tab[href='/messages'] .unread"


def _check_in(factory, headers: dict[str, str], days_ago: float, pain: int, bleeding: str) -> None:
    body = {
        "id": str(uuid.uuid4()),
        "recorded_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
        "pain": pain,
        "bleeding": bleeding,
        "discharge": "none",
        "urination": "normal",
        "allergy": "none",
        "nausea": False,
        "wants_contact": False,
    }
    answer = factory.client.post("/api/v1/me/checkins", json=body, headers=headers)
    assert answer.status_code in (200, 201), answer.text


def _signed_in_phone(browser: Browser, live_server: LiveServer, token: str, **options) -> Page:
    # No service worker: it would fetch pages ahead while the test measures.
    phone = {"device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    context = browser.new_context(**{**phone, "service_workers": "block", **options})
    context.add_cookies([{"name": "session", "value": token, "url": live_server.url}])
    return context.new_page()


def test_every_patient_page_fits_a_small_phone_in_every_language(
    browser: Browser, live_server, factory
):
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    enrolment = factory.enrolment(nurse, surgery_at=surgery)
    headers = factory.patient_headers(enrolment)
    token = headers["Authorization"].removeprefix("Bearer ")
    for days_ago, pain, bleeding in ((3.5, 6, "light"), (2.5, 4, "spotting"), (1.5, 9, "heavy"),
                                     (0.2, 2, "none")):  # fmt: skip
        _check_in(factory, headers, days_ago, pain, bleeding)
    # Settings then shows the long private calendar link.
    assert factory.client.patch(
        "/api/v1/me", json={"channels": ["in-app", "calendar"]}, headers=headers
    ).is_success

    found: dict[str, list[str]] = {}
    for language in LANGUAGES:
        changed = factory.client.patch("/api/v1/me", json={"language": language}, headers=headers)
        assert changed.is_success, changed.text
        for viewport in PHONES:
            # A message from the clinic, unread until the Messages page is opened (last).
            written = factory.client.post(
                f"/api/v1/patients/{enrolment.id}/messages",
                json={"body": "Bonjour, comment allez-vous aujourd'hui ?"},
                headers=nurse.headers,
            )
            assert written.status_code == 201, written.text
            page = _signed_in_phone(browser, live_server, token, viewport=viewport)
            for path in PAGES:
                where = f"{language} {viewport['width']}px {path}"
                page.goto(f"{live_server.url}{path}")
                assert page.url == f"{live_server.url}{path}", f"{where}: signed in"
                assert page.locator("html").get_attribute("lang") == language
                if path == "/checkin":
                    # A task page: the bar follows the form rather than covering its answers.
                    page.locator(".tabbar").scroll_into_view_if_needed()
                problems = page.evaluate(PROBLEMS, TABS)
                if path != "/messages":  # opening Messages reads them
                    unread = page.locator(UNREAD)
                    if not unread.is_visible():
                        problems.append("no unread count on the Messages tab")
                    else:
                        problems += page.evaluate(PROBLEMS, UNREAD)
                assert page.locator(UNDER_MORE).first.is_hidden(), f"{where}: More starts closed"
                page.locator(".tabbar summary").click()
                page.locator(UNDER_MORE).first.wait_for(state="visible")
                problems += page.evaluate(PROBLEMS, UNDER_MORE)
                if problems:
                    found[where] = problems
            page.context.close()
    assert found == {}, json.dumps(found, indent=1, ensure_ascii=False)


def test_the_bottom_bar_has_five_entries_and_marks_where_the_phone_is(
    browser: Browser, live_server, factory
):
    nurse = factory.nurse()
    enrolment = factory.enrolment(nurse, surgery_at=datetime.now(UTC).isoformat())
    token = factory.patient_headers(enrolment)["Authorization"].removeprefix("Bearer ")
    page = _signed_in_phone(browser, live_server, token, viewport=PHONES[0])
    page.goto(f"{live_server.url}/plan")
    nav = page.get_by_role("navigation", name="Sections")
    assert nav.locator(".tabs > li").count() == 5
    assert nav.locator("[aria-current]").count() == 1
    assert nav.get_by_role("link", name="My plan").get_attribute("aria-current") == "page"
    for target in ("/history", "/warning-signs", "/settings", "/privacy"):
        page.goto(f"{live_server.url}{target}")
        assert page.locator(".tabbar summary").get_attribute("aria-current") == "true", target
        page.locator(".tabbar summary").click()
        current = nav.locator(".more-list a[aria-current=page]")
        assert current.get_attribute("href") == target
        # Every tab and More's entries can be tapped: 44 px at least each way.
        for box in (
            element.bounding_box() for element in nav.locator("a.tab, summary, .more-list a").all()
        ):
            assert box and box["width"] >= 44 and box["height"] >= 44, box
    page.context.close()


def test_today_and_the_check_in_take_text_at_200_percent(browser: Browser, live_server, factory):
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    problems: dict[str, list[str]] = {}
    for language in LANGUAGES:
        enrolment = factory.enrolment(nurse, surgery_at=surgery, language=language)
        token = factory.patient_headers(enrolment)["Authorization"].removeprefix("Bearer ")
        factory.client.post(
            f"/api/v1/patients/{enrolment.id}/messages", json={"body": "Hello"},
            headers=nurse.headers,
        )  # fmt: skip
        page = _signed_in_phone(browser, live_server, token, viewport=PHONES[1])
        # The phone's text size setting at 200 %: the default font size, as a user sets it.
        cdp = page.context.new_cdp_session(page)
        cdp.send("Page.enable")
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32}})
        for path in ("/today", "/checkin"):
            page.goto(f"{live_server.url}{path}")
            size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert size >= 32, f"the text is at {size}px: the text size did not apply"
            page.locator(".tabbar").scroll_into_view_if_needed()  # on /checkin, after Send
            found = page.evaluate(PROBLEMS, ".tabbar .tab-label, .tabbar .unread")
            # Labels are whole: none is cut off by its tab.
            found += page.evaluate(
                """() => [...document.querySelectorAll('.tabbar .tab-label')]
                  .filter(label => label.scrollWidth > label.clientWidth + 1
                                   || label.getBoundingClientRect().right
                                      > label.closest('.tab').getBoundingClientRect().right + 1)
                  .map(label => `${label.textContent} is cut off`)"""
            )
            if found:
                problems[f"{language} {path}"] = found
        page.context.close()
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)
