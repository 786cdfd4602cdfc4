"""The wheel carries templates, static files, schedules and migrations: `pip install .` works
outside the repository. Slow (it builds and installs), so the PostgreSQL pass leaves it out."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.packaging


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (built,) = out.glob("aftercare-*.whl")
    return built


def test_the_wheel_carries_everything_the_app_reads(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "aftercare/frontend/templates/patient/base.html",
        "aftercare/frontend/static/js/nav.js",
        "aftercare/schedules/hymenoplasty.yaml",
        "aftercare/schedules/_rules.yaml",
        "aftercare/schedules/README.md",
        "aftercare/locale/fr/LC_MESSAGES/messages.po",
        "aftercare/migrations/env.py",
        "aftercare/migrations/versions/0001_initial.py",
    ):
        assert needed in names, needed


def test_the_installed_wheel_checks_procedures_and_serves(wheel: Path, tmp_path: Path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    subprocess.run([pip, "install", "--quiet", str(wheel)], check=True, timeout=900)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_SECRET_KEY="packaging-test-secret", PYTHONPATH="")
    aftercare = str(env_dir / "bin" / "aftercare")

    check = subprocess.run(
        [aftercare, "protocol", "check"], cwd=outside, env=env, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "hymenoplasty" in check.stdout

    port = _free_port()
    server = subprocess.Popen(
        [aftercare, "serve", "--port", str(port)],
        cwd=outside, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300  # however slow the machine: it is asked until then
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        with urllib.request.urlopen(f"{base}/start/ABCDE-FGHJK", timeout=120) as response:
            assert "Open my space" in response.read().decode()
        with urllib.request.urlopen(f"{base}/static/css/patient.css", timeout=120) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=120)
    assert (outside / "aftercare.db").exists(), "serve created the database where it was started"
