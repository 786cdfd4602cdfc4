"""`make demo PORT=…`: the newcomer's demo on another port, its printed links on that port."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CEILING_S = 120  # a slow machine's start: the demo seeds three patients first


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_make_demo_serves_on_the_port_given_and_prints_links_to_it(tmp_path: Path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = subprocess.Popen(
        ["make", "--no-print-directory", "demo", f"PORT={port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + CEILING_S
        while True:
            assert demo.poll() is None, demo.stdout.read().decode() if demo.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as up:
                    assert up.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the demo did not answer on its port"
                time.sleep(0.5)
    finally:
        # make and the server it started; make may have stopped already (its output says why)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGTERM)
        output = demo.communicate(timeout=CEILING_S)[0].decode()
    links = [line.split()[-1] for line in output.splitlines() if line.startswith("Patient")]
    assert links and all(link.startswith(f"http://127.0.0.1:{port}/start/") for link in links)
