"""Screenshots of the patient app on a phone-sized screen, for the README.

    .venv/bin/python docs/screenshots.py

Runs the demo on a fresh SQLite database, enrols the first demo patient in
Debian's Chromium, ticks an item off, checks in once, and saves Today, Check-in,
History and Warning signs; then, on a 360 px phone, Today after a red check-in and
a red check-in answered offline on the phone; then the nurse's flag queue, a
patient's page and the report, to docs/screenshots/.
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="aftercare-shots-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DEMO="1", AFTERCARE_BASE_URL=base,
               AFTERCARE_DATABASE_URL=f"sqlite:///{folder / 'demo.db'}")  # fmt: skip
    demo = subprocess.run([AFTERCARE, "demo"], env=env, cwd=folder, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    link = re.search(rf"({re.escape(base)}/start/\S+)", demo)
    assert link, demo
    server = subprocess.Popen([AFTERCARE, "serve", "--port", str(port)], env=env, cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    out = HERE / "screenshots"
    out.mkdir(exist_ok=True)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            phone = browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            page = phone.new_page()
            page.goto(link.group(1))
            page.locator("button[type=submit]").click()
            page.wait_for_url(f"{base}/today")
            page.locator("form.tick button").first.click()
            page.wait_for_selector("form.tick button[aria-pressed=true]")
            page.screenshot(path=str(out / "today.png"), full_page=False)
            page.goto(f"{base}/checkin")
            page.screenshot(path=str(out / "checkin.png"), full_page=False)
            page.locator("input[name=pain][value='3']").check()
            for name, value in (("bleeding", "spotting"), ("discharge", "none"),
                                ("urination", "normal"), ("allergy", "none"),
                                ("nausea", "false")):  # fmt: skip
                page.locator(f"input[name={name}][value={value}]").check()
            page.locator("form.checkin button[type=submit]").click()
            page.wait_for_url(f"{base}/checkins/*")
            page.goto(f"{base}/history")
            page.screenshot(path=str(out / "history.png"), full_page=False)
            page.goto(f"{base}/warning-signs")
            page.screenshot(path=str(out / "warning-signs.png"), full_page=False)
            # A small phone: Today after a red check-in, then a red answer made offline.
            page.set_viewport_size({"width": 360, "height": 740})
            red = {"pain": "9", "bleeding": "light", "discharge": "none", "urination": "normal",
                   "allergy": "none", "nausea": "false"}  # fmt: skip
            page.goto(f"{base}/checkin")
            for name, value in red.items():
                page.locator(f"input[name={name}][value='{value}']").check()
            page.locator("form.checkin button[type=submit]").click()
            page.wait_for_url(f"{base}/checkins/*")
            page.goto(f"{base}/today")
            page.screenshot(path=str(out / "today-red.png"), full_page=False)
            # Not wait_for_function: given a promise, it returns at its first try.
            kept = "caches.open('pages-v4').then(c => c.match('/saved')).then(Boolean)"
            deadline = time.monotonic() + 30
            while not page.evaluate(kept):
                if time.monotonic() > deadline:
                    raise SystemExit("the saved page was not kept on the phone within 30 s")
                page.wait_for_timeout(100)
            page.context.set_offline(True)
            page.goto(f"{base}/checkin")
            for name, value in {**red, "pain": "4", "bleeding": "heavy"}.items():
                page.locator(f"input[name={name}][value='{value}']").check()
            page.locator("form.checkin button[type=submit]").click()
            page.wait_for_url(f"{base}/saved?checkin=*")
            page.locator("#offline-answer").wait_for()
            page.screenshot(path=str(out / "offline-answer.png"), full_page=False)
            page.context.set_offline(False)
            # The nurse's side, on a laptop-sized screen: the queue and a patient's page.
            desk = browser.new_page(viewport={"width": 1280, "height": 860})
            desk.goto(f"{base}/console/sign-in")
            desk.locator("input[name=email]").fill("nurse@demo.example")
            desk.locator("input[name=password]").fill("demo-password")
            desk.locator("form[action='/console/sign-in'] button[type=submit]").click()
            desk.wait_for_url(f"{base}/console/queue")
            desk.screenshot(path=str(out / "console-queue.png"), full_page=False)
            desk.locator("main a[href^='/console/patients/']").first.click()
            desk.wait_for_load_state()
            desk.screenshot(path=str(out / "console-patient.png"), full_page=False)
            # The report, scrolled to the flags by reason and the alert burden.
            desk.goto(f"{base}/console/report")
            desk.evaluate("document.querySelector('#flags-heading').scrollIntoView()")
            desk.screenshot(path=str(out / "console-report.png"), full_page=False)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"saved {', '.join(sorted(p.name for p in out.glob('*.png')))} in {out}")


if __name__ == "__main__":
    main()
