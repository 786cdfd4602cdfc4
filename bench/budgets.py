"""Budgets of the patient app (issue: bytes, JavaScript, service worker, Lighthouse), in one run.

    .venv/bin/python bench/budgets.py [--skip-lighthouse] [--reports DIR]

Starts `aftercare serve` on a fresh SQLite database, creates a nurse and one patient
operated on yesterday, and enrols the patient in Debian's Chromium (Playwright, phone
viewport) by pressing the button of the start page. Then, in a fresh browser context
holding only the session cookie:

- first load of /today: bytes over the network as Chromium reports them (the DevTools
  protocol's `encodedDataLength`: response headers plus compressed body) for the page's
  requests, the manifest as a phone's Chrome reads it, and the service worker's requests
  (its script, its precache, the pages it fetches ahead);
- repeat visit once the service worker controls the page: requests for the shell
  (CSS, JavaScript, icons) that still went to the network;
- Lighthouse 12.2.3 (npm, installed into .cache/npm) on /today and /checkin with its
  default mobile settings (simulated throttling), the session cookie as an extra header.

Budgets: first load < 50 KB, JavaScript < 15 KB, no network request for the shell on a
repeat visit, performance >= 95, accessibility 100, best practices 100. Each is recorded
for bench/report.py: sizes, a count of requests and scores, none a time measured on this
machine. The largest contentful paint is printed only: it is an absolute time (Lighthouse's
simulation), has no budget, and is already weighed in the performance score. Exits 0: a
benchmark reports, it does not judge.
"""

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from figures import record, reset
from playwright.sync_api import (
    BrowserContext,
    CDPSession,
    Page,
    Request,
    ViewportSize,
    sync_playwright,
)

ROOT = Path(__file__).resolve().parent.parent
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
LIGHTHOUSE_VERSION = "12.2.3"
NPM_PREFIX = ROOT / ".cache" / "npm"
LIGHTHOUSE = NPM_PREFIX / "node_modules" / "lighthouse" / "cli" / "index.js"
# Lighthouse's own mobile device (Moto G Power), so both halves look at the same screen.
PHONE: ViewportSize = {"width": 412, "height": 823}
PHONE_SCALE = 1.75
FIRST_LOAD_BUDGET = 50 * 1024
JS_BUDGET = 15 * 1024
PAGES = ("/today", "/checkin")
SCORE_BUDGETS = {"performance": 95, "accessibility": 100, "best-practices": 100}
SHELL_SUFFIXES = (".css", ".js", ".png", ".svg", ".ico")
PASSWORD = "bench-password-long"
BENCH = "budgets"
BYTES = "bytes over the network (Chromium's encodedDataLength), phone viewport"
SCORES = f"Lighthouse {LIGHTHOUSE_VERSION}, mobile defaults, simulated throttling"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@contextmanager
def running_server() -> Iterator[str]:
    """`aftercare serve` on a free port and a fresh database; yields its base URL."""
    folder = Path(tempfile.mkdtemp(prefix="aftercare-budgets-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=f"sqlite:///{folder / 'bench.db'}",
        AFTERCARE_SECRET_KEY="bench-secret",
        AFTERCARE_BASE_URL=base,
    )
    subprocess.run(
        [AFTERCARE, "nurse", "create", "bench@clinic.example", "--clinic", "bench",
         "--password-stdin"],
        input=f"{PASSWORD}\n", text=True, env=env, check=True, capture_output=True,
    )  # fmt: skip
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [AFTERCARE, "serve", "--port", str(port)], env=env, cwd=folder, stdout=log, stderr=log
    )
    try:
        for _ in range(150):
            try:
                call(f"{base}/healthz")
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.2)
        else:
            sys.exit("the server did not answer within 30 s")
        if server.poll() is not None:
            sys.exit(f"the server stopped:\n{(folder / 'server.log').read_text()}")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def enrolment_url(base: str) -> str:
    """A patient operated on yesterday, so that Today has the items of day 2."""
    nurse = call(
        f"{base}/api/v1/auth/token",
        f"username=bench%40clinic.example&password={PASSWORD}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )["access_token"]
    body = {
        "alias": "B.1",
        "protocol": "hymenoplasty",
        "surgery_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
        "timezone": "Europe/Paris",
        "language": "en",
    }
    enrolment = call(
        f"{base}/api/v1/patients",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {nurse}", "Content-Type": "application/json"},
    )
    return str(enrolment["enrollment_url"])


@dataclass
class Fetch:
    url: str
    kind: str  # Document, Script, Stylesheet, Image, Manifest, Other...
    by_worker: bool = False  # fetched by the service worker itself
    source: str = "network"  # or "service worker", "disk cache", "memory cache"
    status: int = 0
    encoded: int = 0  # bytes over the wire: compressed body plus headers

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def is_shell(self) -> bool:
        return self.kind != "Document" and self.path.endswith(SHELL_SUFFIXES)

    @property
    def is_script(self) -> bool:
        return self.kind == "Script" or self.path.endswith(".js")


@dataclass
class Traffic:
    """The page's requests from the DevTools protocol, the worker's from Playwright."""

    page_fetches: dict[str, Fetch] = field(default_factory=dict)
    worker_requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    last_event: float = field(default_factory=time.monotonic)

    def listen(self, cdp: CDPSession, context: BrowserContext) -> None:
        cdp.on("Network.requestWillBeSent", self._sent)
        cdp.on("Network.responseReceived", self._received)
        cdp.on("Network.requestServedFromCache", self._from_memory)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.send("Network.enable")
        context.on("request", self._request)
        context.on("requestfinished", self._settled)
        context.on("requestfailed", self._settled)

    def reset(self) -> None:
        self.page_fetches = {}
        self.worker_requests = []

    def _touch(self) -> None:
        self.last_event = time.monotonic()

    def _sent(self, event: dict[str, Any]) -> None:
        self._touch()
        key = event["requestId"]
        if "redirectResponse" in event and key in self.page_fetches:
            hop = self.page_fetches.pop(key)
            hop.status = event["redirectResponse"]["status"]
            hop.encoded = int(event["redirectResponse"].get("encodedDataLength", 0))
            self.page_fetches[f"{key}-{len(self.page_fetches)}"] = hop
        url = event["request"]["url"]
        self.page_fetches[key] = Fetch(url, event.get("type", "Other"))

    def _received(self, event: dict[str, Any]) -> None:
        fetch = self.page_fetches.get(event["requestId"])
        if fetch is None:
            return
        response = event["response"]
        fetch.kind = event.get("type", fetch.kind)
        fetch.status = response["status"]
        if response.get("fromServiceWorker"):
            fetch.source = "service worker"
        elif response.get("fromDiskCache") or response.get("fromPrefetchCache"):
            fetch.source = "disk cache"

    def _from_memory(self, event: dict[str, Any]) -> None:
        if fetch := self.page_fetches.get(event["requestId"]):
            fetch.source = "memory cache"

    def _finished(self, event: dict[str, Any]) -> None:
        self._touch()
        if fetch := self.page_fetches.get(event["requestId"]):
            fetch.encoded = int(event["encodedDataLength"])

    def _request(self, request: Request) -> None:
        self._touch()
        self.in_flight += 1
        if request.service_worker is not None:
            self.worker_requests.append(request)

    def _settled(self, _request: Request) -> None:
        self._touch()
        self.in_flight -= 1

    def settle(self, page: Page, quiet_s: float = 1.5, limit_s: float = 30) -> None:
        """Until nothing has moved for `quiet_s`: the worker works on after the load event."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            page.wait_for_timeout(100)
            if self.in_flight <= 0 and time.monotonic() - self.last_event > quiet_s:
                return

    def fetches(self) -> list[Fetch]:
        """Every request of the load, the page's and the service worker's.

        Playwright's sizes of a worker's request come from the same `encodedDataLength`
        (body = encodedDataLength - headers, so an HTTP cache hit sums to 0 or less). The
        worker's own script gets no `loadingFinished`: its body counts as its Content-Length.
        """
        found = [fetch for fetch in self.page_fetches.values() if fetch.status]
        for request in self.worker_requests:
            response = request.response()
            if response is None:
                continue
            sizes = request.sizes()
            kind = request.resource_type.title()
            fetch = Fetch(request.url, kind, by_worker=True, status=response.status)
            body = sizes["responseBodySize"]
            if body == 0:
                body = int(response.headers.get("content-length", 0))
            fetch.encoded = max(0, sizes["responseHeadersSize"] + body)
            if fetch.encoded == 0:
                fetch.source = "HTTP cache"
            found.append(fetch)
        return found


@dataclass
class LoadFigures:
    first: list[Fetch]
    repeat: list[Fetch]
    cookie: str
    heading: str  # what Today showed: the load measured was the real page


def measure_loads(base: str, start_url: str) -> LoadFigures:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        phone: dict[str, Any] = {
            "viewport": PHONE, "device_scale_factor": PHONE_SCALE,
            "is_mobile": True, "has_touch": True,
        }  # fmt: skip
        enrolling = browser.new_context(**phone)
        page = enrolling.new_page()
        page.goto(start_url)
        with page.expect_navigation(url=f"{base}/today"):
            page.locator("form button[type=submit]").click()
        cookie = next(c for c in enrolling.cookies() if c["name"] == "session")
        enrolling.close()

        context = browser.new_context(**phone)
        context.add_cookies([{"name": "session", "value": cookie["value"], "url": base}])
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        traffic = Traffic()
        traffic.listen(cdp, context)
        page.goto(f"{base}/today", wait_until="load")
        # Chrome on a phone reads the manifest to offer installing the app; headless
        # Chromium does only when asked.
        cdp.send("Page.getAppManifest")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
        traffic.settle(page)
        first = traffic.fetches()
        items = page.locator(".items li").count()
        heading = f"{page.locator('h1').first.inner_text()}, {items} items"

        traffic.reset()
        page.goto(f"{base}/today", wait_until="load")
        cdp.send("Page.getAppManifest")
        traffic.settle(page)
        repeat = traffic.fetches()
        browser.close()
    return LoadFigures(first, repeat, cookie["value"], heading)


def plain_size(url: str) -> int:
    """The file as the server holds it: the uncompressed size of a script."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return len(response.read())


def install_lighthouse() -> None:
    if LIGHTHOUSE.is_file():
        return
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund",
         f"lighthouse@{LIGHTHOUSE_VERSION}"],
        check=True, capture_output=True,
    )  # fmt: skip


@dataclass
class PageScores:
    path: str
    scores: dict[str, int | None] = field(default_factory=dict)
    lcp_ms: float | None = None
    failing: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


def failing_audits(report: dict[str, Any], category: str) -> list[str]:
    """The audits that cost this category points, worst first."""
    audits = report["audits"]
    lines = []
    for ref in report["categories"][category]["auditRefs"]:
        audit = audits[ref["id"]]
        score = audit.get("score")
        mode = audit.get("scoreDisplayMode")
        counts = ref.get("weight", 0) > 0 or (category == "performance" and mode == "metricSavings")
        if score is None or score >= (1 if category != "performance" else 0.9) or not counts:
            continue
        shown = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
        lines.append((score, f"{audit['title']}{shown} [{ref['id']}, score {score:.2f}]"))
    return [line for _score, line in sorted(lines, key=lambda pair: pair[0])]


def lighthouse(base: str, path: str, cookie: str, folder: Path) -> PageScores:
    result = PageScores(path)
    headers = folder / "headers.json"
    headers.write_text(json.dumps({"Cookie": f"session={cookie}"}))
    output = folder / f"{path.strip('/')}.json"
    flags = " ".join(["--headless=new", *FLAGS])
    command = [
        "node", str(LIGHTHOUSE), f"{base}{path}", "--quiet", "--output=json",
        f"--output-path={output}", f"--chrome-flags={flags}", f"--extra-headers={headers}",
        f"--only-categories={','.join(SCORE_BUDGETS)}",
    ]  # fmt: skip
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if run.returncode != 0 or not output.is_file():
        result.error = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return result
    report = json.loads(output.read_text())
    if report.get("runtimeError"):
        result.error = report["runtimeError"].get("message")
    if report.get("finalDisplayedUrl") != f"{base}{path}":
        result.warnings.append(f"ended on {report.get('finalDisplayedUrl')}, not {path}")
    result.warnings += report.get("runWarnings", [])
    broken = {
        name: audit.get("errorMessage", "")
        for name, audit in report["audits"].items()
        if audit.get("scoreDisplayMode") == "error"
    }
    if broken:
        reasons = "; ".join(sorted({reason.split(": ")[-1][:80] for reason in broken.values()}))
        result.warnings.append(f"audits that could not run: {', '.join(broken)} ({reasons})")
    for category in SCORE_BUDGETS:
        score = report["categories"][category]["score"]
        result.scores[category] = None if score is None else round(score * 100)
        result.failing[category] = failing_audits(report, category)
    result.lcp_ms = report["audits"]["largest-contentful-paint"].get("numericValue")
    return result


Row = tuple[str, str, str, str]  # what, measured, goal, PASS/FAIL


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def kb(size: float) -> str:
    return f"{size / 1024:.1f} KB"


def print_fetches(title: str, fetches: list[Fetch]) -> None:
    print(title)
    for fetch in fetches:
        who = "worker" if fetch.by_worker else "page  "
        print(
            f"  {who} {fetch.status:>3} {fetch.kind:<10} {fetch.path:<32} "
            f"{fetch.source:<14} {fetch.encoded:>7} B"
        )


def report_loads(loads: LoadFigures, plain_script: int) -> list[Row]:
    print("Chromium (Debian), phone viewport 412x823, a fresh context with the session cookie")
    print_fetches(f"first load of /today ({loads.heading}), bytes = encodedDataLength", loads.first)
    over_network = [f for f in loads.first if f.source == "network"]
    page_bytes = sum(f.encoded for f in over_network if not f.by_worker)
    worker_bytes = sum(f.encoded for f in over_network if f.by_worker)
    total = page_bytes + worker_bytes
    script_bytes = sum(f.encoded for f in over_network if f.is_script)
    print(f"  page's requests {kb(page_bytes)} + service worker's requests {kb(worker_bytes)}")
    print(f"  JavaScript: {kb(script_bytes)} transferred, {kb(plain_script)} uncompressed")

    print_fetches("repeat visit of /today, the service worker in control", loads.repeat)
    shell_network = [f for f in loads.repeat if f.is_shell and f.source == "network"]
    elsewhere = [
        f for f in loads.repeat
        if f.is_shell and not f.by_worker and f.source != "service worker"
    ]  # fmt: skip
    if elsewhere:
        names = ", ".join(f"{f.path} ({f.source})" for f in elsewhere)
        print(f"  shell not served by the service worker: {names}")
    others = [f for f in loads.repeat if f.source == "network" and not f.is_shell]
    names = ", ".join(sorted({f.path for f in others}))
    print(f"  not the shell, over the network: {len(others)} requests ({names}), "
          f"{kb(sum(f.encoded for f in others))}")  # fmt: skip
    record(BENCH, "Today, first load, everything", total / 1024, "KB", reference=BYTES,
           goal="< 50 KB", passed=total < FIRST_LOAD_BUDGET)  # fmt: skip
    record(BENCH, "Today, first load, JavaScript", script_bytes / 1024, "KB", reference=BYTES,
           goal="< 15 KB", passed=script_bytes < JS_BUDGET)  # fmt: skip
    record(BENCH, "Today, repeat visit, shell requests to the network", len(shell_network),
           "requests", reference="the service worker in control", goal="0",
           passed=not shell_network)  # fmt: skip
    return [
        ("first load, everything", kb(total), "< 50 KB", verdict(total < FIRST_LOAD_BUDGET)),
        ("first load, JavaScript", kb(script_bytes), "< 15 KB", verdict(script_bytes < JS_BUDGET)),
        ("repeat visit, shell requests to the network", str(len(shell_network)), "0",
         verdict(not shell_network)),
    ]  # fmt: skip


def report_lighthouse(page: PageScores) -> list[Row]:
    print(f"Lighthouse {LIGHTHOUSE_VERSION} {page.path}, mobile, simulated throttling")
    if page.error:
        print(f"  error: {page.error}")
    for warning in page.warnings:
        print(f"  warning: {warning}")
    lcp = "n/a" if page.lcp_ms is None else f"{page.lcp_ms:.0f} ms"
    scores = ", ".join(f"{name} {page.scores.get(name)}" for name in SCORE_BUDGETS)
    print(f"  {scores}, largest contentful paint {lcp}")
    rows: list[Row] = []
    for category, budget in SCORE_BUDGETS.items():
        score = page.scores.get(category)
        passed = score is not None and score >= budget
        if not passed:
            print(f"  {category} fails on:")
            for line in page.failing.get(category) or ["(no single audit: see the report)"]:
                print(f"    - {line}")
        goal = f">= {budget}" if budget < 100 else "100"
        record(BENCH, f"Lighthouse {page.path} {category}", math.nan if score is None else score,
               "score", reference=SCORES, goal=goal.replace(">=", "≥"), passed=passed)  # fmt: skip
        rows.append((f"Lighthouse {page.path} {category}", str(score), goal, verdict(passed)))
    rows.append((f"Lighthouse {page.path} largest contentful paint", lcp, "", ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lighthouse", action="store_true")
    parser.add_argument("--reports", type=Path, help="keep Lighthouse's JSON reports here")
    args = parser.parse_args()
    reset(BENCH)
    pages: list[PageScores] = []
    with running_server() as base:
        loads = measure_loads(base, enrolment_url(base))
        scripts = {f.url for f in loads.first if f.is_script and f.source == "network"}
        plain_script = sum(plain_size(url) for url in scripts)
        if not args.skip_lighthouse:
            install_lighthouse()
            with tempfile.TemporaryDirectory(prefix="aftercare-lighthouse-") as scratch:
                folder = args.reports or Path(scratch)
                folder.mkdir(parents=True, exist_ok=True)
                pages = [lighthouse(base, path, loads.cookie, folder) for path in PAGES]

    summary = report_loads(loads, plain_script)
    for page in pages:
        summary += report_lighthouse(page)
    print()
    width = max(len(row[0]) for row in summary)
    print(f"{'budget':<{width}}  {'measured':>10}  {'goal':>8}  result")
    for name, measured, goal, result in summary:
        print(f"{name:<{width}}  {measured:>10}  {goal:>8}  {result}")


if __name__ == "__main__":
    main()
