"""Check-in throughput against /healthz on one server process, SQLite, in one run.

    .venv/bin/python bench/checkins.py [--seconds 10] [--connections 16]

Starts `aftercare serve` on a fresh SQLite database (WAL, synchronous=FULL),
enrols patients, then loads GET /healthz and POST /api/v1/me/checkins with
wrk (Debian package `wrk`) from a separate process. Prints both rates, the
ratio and the latencies. Goal (issue 3): ratio >= 0.5 and p99 < 50 ms.
"""

import argparse
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
AFTERCARE = str(Path(sys.executable).parent / "aftercare")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wrk(url: str, seconds: int, connections: int, script: Path | None, env: dict[str, str]) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latencies = {}
    for pct in ("50", "90", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        latencies[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "latency_ms": latencies, "errors": int(errors.group(1)) if errors else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--patients", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")

    folder = Path(tempfile.mkdtemp(prefix="aftercare-bench-"))
    database = folder / "bench.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DATABASE_URL=f"sqlite:///{database}", AFTERCARE_SECRET_KEY="bench-secret")
    subprocess.run([AFTERCARE, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [
            AFTERCARE,
            "nurse",
            "create",
            "bench@clinic.example",
            "--clinic",
            "bench",
            "--password-stdin",
        ],
        input="bench-password-long\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [AFTERCARE, "serve", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                call(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        nurse = call(
            f"{base}/api/v1/auth/token",
            b"username=bench%40clinic.example&password=bench-password-long",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )["access_token"]
        surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        tokens = []
        for number in range(args.patients):
            body = {
                "alias": f"P{number}",
                "protocol": "hymenoplasty",
                "surgery_at": surgery,
                "timezone": "Europe/Paris",
                "language": "fr",
            }
            enrolment = call(
                f"{base}/api/v1/patients",
                json.dumps(body).encode(),
                {"Authorization": f"Bearer {nurse}", "Content-Type": "application/json"},
            )
            device = call(
                f"{base}/api/v1/enroll",
                json.dumps({"code": enrolment["enrollment_code"]}).encode(),
                {"Content-Type": "application/json"},
            )
            tokens.append(device["access_token"])
        load_env = {
            **env,
            "BENCH_TOKENS": ",".join(tokens),
            "BENCH_RECORDED_AT": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        }
        time.sleep(1.2)  # let the check-ins' time be in the past
        health = wrk(f"{base}/healthz", args.seconds, args.connections, None, load_env)
        checkin = wrk(
            f"{base}/api/v1/me/checkins",
            args.seconds,
            args.connections,
            HERE / "checkin_post.lua",
            load_env,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    stored = sqlite3.connect(database).execute("SELECT count(*) FROM checkin").fetchone()[0]
    shutil.rmtree(folder)

    ratio = checkin["rate"] / health["rate"]
    print(f"connections: {args.connections}, {args.seconds} s each, one server process, SQLite")
    for name, result in (("GET /healthz", health), ("POST /api/v1/me/checkins", checkin)):
        lat = result["latency_ms"]
        print(
            f"{name:<26} {result['rate']:8.0f} req/s   p50 {lat['50']:6.1f} ms"
            f"   p90 {lat['90']:6.1f} ms   p99 {lat['99']:6.1f} ms   non-2xx {result['errors']}"
        )
    print(f"check-ins stored: {stored}")
    print(f"ratio check-in / healthz: {ratio:.2f}   (goal >= 0.50)")
    print(f"check-in p99: {checkin['latency_ms']['99']:.1f} ms   (goal < 50 ms)")


if __name__ == "__main__":
    main()
