"""The console's own service worker in Chromium: alerts only, never the patient app's cache."""

from playwright.sync_api import Browser

from tests.factories import PASSWORD


def _signed_in_console(browser: Browser, live_server, factory):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    nurse = factory.nurse()
    page.goto(f"{live_server.url}/console/sign-in")
    page.locator("input[name=email]").fill(nurse.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form[action='/console/sign-in'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/console/queue")
    return context, page


def test_alerts_that_cannot_reach_a_push_service_fail_kindly(browser, live_server, factory, engine):
    from sqlalchemy import text

    context, page = _signed_in_console(browser, live_server, factory)
    page.goto(f"{live_server.url}/console/account")
    on = page.get_by_role("button", name="Turn on alerts")
    on.wait_for(state="visible")
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{live_server.url}/console/"
    context.grant_permissions(["notifications"])
    on.click()
    page.locator("#push-failed").wait_for(state="visible")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM push_subscription")).scalar() == 0
    context.close()


def test_no_console_page_is_kept_in_the_browsers_caches(browser, live_server, factory):
    context, page = _signed_in_console(browser, live_server, factory)
    # The patient app's worker (scope "/") is on this origin too, as on a shared machine.
    page.goto(f"{live_server.url}/")
    page.evaluate("navigator.serviceWorker.register('/sw.js', {scope: '/'})")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    for path in ("/console/queue", "/console/patients", "/console/account", "/console/queue"):
        page.goto(f"{live_server.url}{path}")
    cached = page.evaluate(
        """async () => {
            const urls = [];
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) urls.push(request.url);
            }
            return urls;
        }"""
    )
    assert not [url for url in cached if "/console" in url], cached
    context.close()
