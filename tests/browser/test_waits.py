"""The browser tests' own waits: they wait for what a page's promise holds."""

from tests.browser.conftest import LiveServer, until_page

ENTRY = "caches.open('later').then(c => c.match('/x')).then(Boolean)"


def test_until_page_waits_for_what_a_promise_holds(phone, live_server: LiveServer):
    phone.goto(f"{live_server.url}/offline")
    # Stored a while later, as the service worker keeps a page fetched ahead.
    phone.evaluate(
        "setTimeout(() => caches.open('later').then(c => c.put('/x', new Response('x'))), 500)"
    )
    until_page(phone, ENTRY, "the entry to be stored")
    assert phone.evaluate(ENTRY)
