"""Real Chromium (Debian's) driven by Playwright against the app served on 127.0.0.1."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from aftercare.app import create_app

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
PHONE: ViewportSize = {"width": 390, "height": 844}
# However slow and busy the machine, a wait decides nothing: each waits for its condition
# up to this ceiling (Playwright's own are 30 s for an action and 5 s for `expect`).
CEILING_S = 120
CEILING_MS = CEILING_S * 1000
expect.set_options(timeout=CEILING_MS)


def until(condition: Callable[[], object], page: Page, what: str) -> None:
    """Wait until `condition()` is true, looking every 100 ms, for up to CEILING_S."""
    deadline = time.monotonic() + CEILING_S
    while not condition():
        assert time.monotonic() < deadline, f"waited {CEILING_S} s for {what}"
        page.wait_for_timeout(100)


def until_page(page: Page, expression: str, what: str) -> None:
    """Wait until the page's JavaScript `expression`, a promise awaited, is truthy.

    Not `page.wait_for_function`: given a promise it returns at the first try, whatever
    the promise holds, so a wait on the Cache API or IndexedDB would not wait at all.
    """
    until(lambda: page.evaluate(expression), page, what)


@dataclass
class LiveServer:
    url: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(settings, engine) -> Iterator[LiveServer]:
    with serving(lambda url: create_app(app_settings(settings, url), engine)) as server:
        yield server


def app_settings(settings, url: str):
    return settings.model_copy(update={"base_url": url, "quick_exit_url": f"{url}/healthz"})


@contextmanager
def serving(make_app: Callable[[str], Any]) -> Iterator[LiveServer]:
    """Serve the ASGI app that `make_app(url)` makes on a free port, in a thread."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(make_app(url), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started(server, thread)
    try:
        yield LiveServer(url)
    finally:
        server.should_exit = True
        thread.join(timeout=CEILING_S)


def started(server: uvicorn.Server, thread: threading.Thread) -> None:
    """Wait until the server in `thread` serves (or stops trying), for up to CEILING_S."""
    deadline = time.monotonic() + CEILING_S
    while not server.started:
        assert thread.is_alive(), "the server stopped before it served"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)


def _with_ceiling(new_context: Callable[..., BrowserContext]) -> Callable[..., BrowserContext]:
    """`Browser.new_context` whose pages wait up to CEILING_MS for an action or a page."""

    def new_context_with_ceiling(*args: Any, **options: Any) -> BrowserContext:
        context = new_context(*args, **options)
        context.set_default_timeout(CEILING_MS)
        context.set_default_navigation_timeout(CEILING_MS)
        return context

    return new_context_with_ceiling


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Stopped with the last test of this folder, not with the session: between its calls
    # Playwright's sync API marks its event loop as running in the main thread, and
    # `asyncio.run` there (WebPushChannel.send, in tests/reminders) would then refuse.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=FLAGS, timeout=CEILING_MS
        )
        # Every context a test opens (the fixtures' and the tests' own) gets the ceiling.
        chromium.new_context = _with_ceiling(chromium.new_context)  # type: ignore[method-assign]
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    yield page
    context.close()
