"""The patient's phone in real Chromium: enrol from the link, Today, installable, offline."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

from aftercare.app import create_app
from aftercare.web import SESSION_COOKIE
from tests.browser.conftest import LiveServer, app_settings, serving, until, until_page

# What the service worker fetches ahead so that they open offline (sw.js, OWN_PAGES).
OWN_PAGES = ["/today", "/plan", "/history", "/checkin", "/messages", "/warning-signs",
             "/saved", "/checkin/rules.json"]  # fmt: skip


def _enrolment_code(factory) -> str:
    nurse = factory.nurse()
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    code: str = factory.enrolment(nurse, surgery_at=surgery).code
    return code


def _enrol(phone, live_server: LiveServer, factory) -> None:
    phone.goto(f"{live_server.url}/start/{_enrolment_code(factory)}")
    phone.get_by_role("button", name="Open my space").click()
    phone.wait_for_url(f"{live_server.url}/today")


def test_enrol_from_the_link_and_see_today(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    assert phone.get_by_role("heading", level=1).inner_text() == "Day 3 of 28"
    assert phone.title() == "Care"
    assert phone.get_by_text("Shower with lukewarm water").is_visible()


def test_the_app_is_installable_and_its_service_worker_controls_the_page(
    phone, live_server, factory
):
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()
    assert phone.evaluate("Boolean(navigator.serviceWorker.controller)")
    manifest = phone.evaluate("fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["name"] == "Care" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "/today"
    sizes = {(icon["sizes"], icon.get("purpose", "any")) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        assert phone.request.get(f"{live_server.url}{icon['src']}").status == 200


def test_today_still_opens_offline(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()  # the service worker now controls the page and keeps a copy of it
    phone.context.set_offline(True)
    phone.reload()
    assert phone.get_by_role("heading", level=1).inner_text() == "Day 3 of 28"
    phone.goto(f"{live_server.url}/somewhere-never-visited")
    assert phone.get_by_role("heading", level=1).inner_text() == "You are offline"
    phone.context.set_offline(False)


def test_quick_exit_leaves_no_way_back_to_the_app(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    fresh = phone.context.new_page()
    fresh.goto(f"{live_server.url}/today")
    fresh.get_by_role("link", name="Quick exit").click()
    fresh.wait_for_url(f"{live_server.url}/healthz")
    fresh.go_back()
    assert "/today" not in fresh.url, "the app is not in the back history"


def test_no_request_leaves_the_server(phone, live_server, factory):
    origins: set[str] = set()
    phone.on("request", lambda request: origins.add(request.url.split("/")[2]))
    _enrol(phone, live_server, factory)
    phone.reload()
    assert origins == {live_server.url.removeprefix("http://")}


def test_a_check_in_made_offline_is_sent_once_when_back_online(phone, live_server, factory, engine):
    from sqlalchemy import text

    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.goto(f"{live_server.url}/checkin")
    assert phone.evaluate("Boolean(navigator.serviceWorker.controller)")
    phone.context.set_offline(True)
    phone.locator("input[name=pain][value='4']").check()
    for name, value in (("bleeding", "spotting"), ("discharge", "none"), ("urination", "normal"),
                        ("allergy", "none"), ("nausea", "false")):  # fmt: skip
        phone.locator(f"input[name={name}][value={value}]").check()
    phone.get_by_role("button", name="Send").click()
    phone.wait_for_url("**/saved?checkin=*")
    assert phone.get_by_role("heading", level=1).inner_text() == "Saved on this phone"

    def stored() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM checkin")).scalar() or 0)

    assert stored() == 0
    phone.context.set_offline(False)
    phone.goto(f"{live_server.url}/today")  # opening the app sends what waits
    until(
        lambda: stored() and phone.evaluate("self.outbox.count()") == 0,
        phone,
        "the check-in to arrive and leave the phone's queue",
    )
    # Opened again, and asked again: nothing waits, so nothing more may arrive.
    phone.reload()
    phone.wait_for_timeout(500)
    phone.evaluate("navigator.serviceWorker.ready.then(r => r.active.postMessage('send-waiting'))")
    phone.wait_for_timeout(500)
    assert stored() == 1, "sent once, however often the app is opened"


def test_the_plan_opens_offline_even_if_it_was_never_visited(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()  # the app, on opening, fetches the patient's pages ahead
    kept = "caches.open('pages-v4').then(c => c.match('/plan')).then(Boolean)"
    until_page(phone, kept, "the plan to be kept on the phone")
    phone.context.set_offline(True)
    phone.goto(f"{live_server.url}/plan")
    assert phone.get_by_role("heading", level=1).inner_text() == "My plan"
    assert phone.get_by_text("Day 28 of 28").is_visible()
    phone.context.set_offline(False)


class HoldingPlan:
    """The app, noting the pages the service worker fetches ahead (`Purpose: prefetch`)
    for a signed-in patient, and holding every such fetch of /plan until `release`."""

    def __init__(self, app) -> None:
        self.app = app
        self.fetched: list[str] = []
        self.release = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        headers = dict(scope.get("headers", []))
        cookies = SimpleCookie(headers.get(b"cookie", b"").decode())
        if headers.get(b"purpose") == b"prefetch" and SESSION_COOKIE in cookies:
            self.fetched.append(scope["path"])
            while scope["path"] == "/plan" and not self.release.is_set():
                await asyncio.sleep(0.02)
        await self.app(scope, receive, send)


class Prefetches:
    """The app, noting every page the service worker fetches ahead, signed in or not."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fetched: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if dict(scope.get("headers", [])).get(b"purpose") == b"prefetch":
            self.fetched.append(scope["path"])
        await self.app(scope, receive, send)


def test_a_phone_not_signed_in_fetches_only_today_ahead(phone, settings, engine, factory):
    # The link's page asks the worker too; signed out, every page would be a redirect,
    # and a round that began signed out and ended signed in kept half and cost the next
    # round every page again. Each round now stops at Today when it is sent away.
    recording: list[Prefetches] = []

    def make_app(url: str) -> Prefetches:
        recording.append(Prefetches(create_app(app_settings(settings, url), engine)))
        return recording[0]

    with serving(make_app) as server:
        phone.goto(f"{server.url}/start/{_enrolment_code(factory)}")
        over = phone.evaluate(
            """() => navigator.serviceWorker.ready.then((r) => new Promise((done) => {
                 const channel = new MessageChannel();
                 channel.port1.onmessage = (event) => { if (event.data === "ready") done(true); };
                 r.active.postMessage("send-waiting", [channel.port2]);
               }))"""
        )
        assert over is True
        assert recording[0].fetched, "a round was made"
        assert set(recording[0].fetched) == {"/today"}


def test_the_pages_are_fetched_ahead_once_however_often_the_app_asks(
    phone, settings, engine, factory
):
    # While a round of fetching ahead is under way, the app asks again and again (a
    # reload, the network coming back): each page must still be fetched once, since every
    # round side by side would cost the whole set again on the patient's data.
    holding: list[HoldingPlan] = []

    def make_app(url: str) -> HoldingPlan:
        holding.append(HoldingPlan(create_app(app_settings(settings, url), engine)))
        return holding[0]

    with serving(make_app) as server:
        app = holding[0]
        _enrol(phone, server, factory)  # opening Today starts a round
        until(lambda: "/plan" in app.fetched, phone, "the round to reach /plan")
        phone.evaluate(
            """() => { window.heard = [];
              return navigator.serviceWorker.ready.then(r => { for (let i = 0; i < 3; i++) {
                const channel = new MessageChannel();
                channel.port1.onmessage = (event) => window.heard.push(event.data);
                r.active.postMessage("send-waiting", [channel.port2]);
              } }); }"""
        )

        def heard(what: str) -> bool:
            return bool(phone.evaluate(f"window.heard.filter(w => w === '{what}').length === 3"))

        until(lambda: heard("fetching"), phone, "the app to ask three times during the round")
        app.release.set()
        until(lambda: heard("ready"), phone, "the pages to be kept")
        assert sorted(app.fetched) == sorted(OWN_PAGES)
        kept = "caches.open('pages-v4').then(c => c.keys()).then(keys => keys.length)"
        assert phone.evaluate(kept) == len(OWN_PAGES)


def test_a_push_message_shows_only_neutral_text(phone, live_server, factory):
    import json

    _enrol(phone, live_server, factory)
    phone.context.grant_permissions(["notifications"], origin=live_server.url)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    cdp = phone.context.new_cdp_session(phone)
    registrations: list[str] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(r["registrationId"] for r in event["registrations"]),
    )
    # What the browser displayed, as it records it for its developer tools. (Asking
    # getNotifications() again and again is no way to look: Chromium drops from that list
    # a notification it is asked about before its display is done, and then never shows
    # it there, so a slow machine failed this test.)
    displayed: list[dict[str, str]] = []

    def record(event: dict[str, Any]) -> None:
        seen = event["backgroundServiceEvent"]
        if seen["eventName"] == "Notification displayed":
            fields = {item["key"].lower(): item["value"] for item in seen["eventMetadata"]}
            displayed.append({**fields, "tag": seen["instanceId"]})

    cdp.on("BackgroundService.backgroundServiceEventReceived", record)
    cdp.send("BackgroundService.setRecording", {"shouldRecord": True, "service": "notifications"})
    cdp.send("BackgroundService.startObserving", {"service": "notifications"})
    cdp.send("ServiceWorker.enable")
    until(lambda: registrations, phone, "the service worker's registration")
    payload = {
        "title": "Care",
        "body": "Time for your daily check-in",
        "url": "/today",
        "tag": "r1",
    }
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": live_server.url,
            "registrationId": registrations[-1],
            "data": json.dumps(payload),
        },
    )
    until(lambda: displayed, phone, "the notification")
    assert displayed == [{"title": "Care", "body": "Time for your daily check-in", "tag": "r1"}]


def _ticked(engine) -> list[str]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key FROM plan_item WHERE done_at IS NOT NULL"))
        return [row[0] for row in rows]


def test_an_item_ticked_off_online_is_stored_without_reloading(phone, live_server, factory, engine):
    _enrol(phone, live_server, factory)
    button = phone.locator("form.tick[data-item='d3-shower'] button")
    button.click()
    phone.wait_for_selector("form.tick[data-item='d3-shower'] button[aria-pressed=true]")
    until(lambda: _ticked(engine), phone, "the tick to be stored")
    assert _ticked(engine) == ["d3-shower"]
    button.click()  # and undone
    until(lambda: not _ticked(engine), phone, "the tick to be undone")
    assert _ticked(engine) == []


def test_an_item_ticked_off_offline_waits_on_the_phone_and_is_sent_once(
    phone, live_server, factory, engine
):
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()
    assert phone.evaluate("Boolean(navigator.serviceWorker.controller)")
    waiting = phone.locator("#waiting")
    assert waiting.is_hidden()
    phone.context.set_offline(True)
    phone.locator("form.tick[data-item='d3-shower'] button").click()
    waiting.wait_for(state="visible")
    assert "saved on this phone" in waiting.inner_text()
    assert _ticked(engine) == []
    # The tick is still shown when the app is opened again offline, and the notice with it.
    phone.reload()
    phone.wait_for_selector("form.tick[data-item='d3-shower'] button[aria-pressed=true]")
    waiting.wait_for(state="visible")
    phone.goto(f"{live_server.url}/plan")
    waiting.wait_for(state="visible")
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    waiting.wait_for(state="hidden")
    assert _ticked(engine) == ["d3-shower"]
    phone.goto(f"{live_server.url}/today")
    phone.evaluate("navigator.serviceWorker.ready.then(r => r.active.postMessage('send-waiting'))")
    phone.wait_for_timeout(300)
    assert _ticked(engine) == ["d3-shower"]
    assert (
        phone.locator("form.tick[data-item='d3-shower'] button").get_attribute("aria-pressed")
        == "true"
    )


def test_warning_signs_open_offline(phone, live_server, factory):
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.reload()
    kept = "caches.open('pages-v4').then(c => c.match('/warning-signs')).then(Boolean)"
    until_page(phone, kept, "the warning signs to be kept on the phone")
    phone.context.set_offline(True)
    phone.goto(f"{live_server.url}/warning-signs")
    assert phone.get_by_role("heading", level=1).inner_text() == "Warning signs"
    assert phone.get_by_role("link", name="Emergency 112").is_visible()
    phone.context.set_offline(False)


def test_push_that_cannot_reach_a_push_service_fails_kindly(phone, live_server, factory, engine):
    """This machine reaches no browser push service, so subscribing fails: the page must
    say so kindly and store nothing. (The route that keeps a subscription is tested over
    HTTP, and delivery to the service worker through the DevTools protocol.)"""
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.goto(f"{live_server.url}/settings")
    on = phone.get_by_role("button", name="Turn on notifications")
    on.wait_for(state="visible")
    assert phone.locator("#push-unsupported").is_hidden()
    phone.context.grant_permissions(["notifications"])
    on.click()
    phone.locator("#push-failed").wait_for(state="visible")
    assert on.is_visible() and phone.locator("#push-off").is_hidden()
    assert _subscriptions(engine) == 0


def test_push_blocked_by_the_patient_says_where_to_allow_it(phone, live_server, factory, engine):
    _enrol(phone, live_server, factory)
    phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    phone.goto(f"{live_server.url}/settings")
    phone.get_by_role("button", name="Turn on notifications").click()
    phone.locator("#push-denied").wait_for(state="visible")
    assert "phone's settings" in phone.locator("#push-denied").inner_text()
    assert _subscriptions(engine) == 0


def _subscriptions(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() or 0)
