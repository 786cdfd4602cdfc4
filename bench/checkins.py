"""Check-in throughput against a bare FastAPI app doing the same write, SQLite, in one run.

    .venv/bin/python bench/checkins.py [--seconds 10] [--connections 16]

Starts `aftercare serve` on a fresh SQLite database (WAL, synchronous=FULL), enrols
patients, then loads POST /api/v1/me/checkins with wrk (Debian package `wrk`) from a
separate process, with the same requests as before (bench/checkin_post.lua).

The reference is not our code: a bare FastAPI app, started in the same run through the
same uvicorn set-up as `aftercare serve` (this script run with --serve-reference), whose
POST /api/v1/me/checkins validates the same body with a plain pydantic model, looks the
bearer token's SHA-256 up and inserts the check-in, one SQL statement each and a commit
per request, on SQLite with the same pragmas. It is the least a durable, authenticated
check-in costs with this framework and this database on this machine; our route adds
the triage, the flag, the audit and our layers, and may gain by committing check-ins
arriving together at once (aftercare.writer).

Figures: the check-in rate as a share of the reference's, and the p99 latency as a
multiple of the reference's. The issue-era goals were ">= 0.5 of our own GET /healthz"
and "p99 < 50 ms"; both are translated into the reference's terms with the ratios
measured over three runs when this bench was moved to it (2 shared AMD EPYC cores,
16 connections): our GET /healthz ran at 0.85-0.99 of the bare app's check-in rate, so
half of it is about 0.45; the bare app's check-in p99 was 23-40 ms, so 50 ms is 1.25 to
2.2 times it, and the goal keeps 2. The absolute p99 is still printed beside its old
goal, and so is the old ratio to our own /healthz.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from figures import record, reset

HERE = Path(__file__).resolve().parent
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
BENCH = "checkins"
RATE_GOAL = 0.45  # of the bare app's check-in rate (the docstring says why)
P99_GOAL = 2.0  # times the bare app's check-in p99
OLD_P99_GOAL_MS = 50.0
REFERENCE = "bare FastAPI app storing the same check-in in SQLite, same uvicorn set-up, same run"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(base: str, server: subprocess.Popen) -> None:
    for _ in range(150):
        try:
            call(f"{base}/healthz")
            return
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.terminate()
    sys.exit(f"the server at {base} did not start")


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


def reference_database(path: Path, tokens: list[str]) -> None:
    """The bare app's database: the devices' token hashes, and an empty check-in table."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE device (token_hash TEXT PRIMARY KEY, patient_id TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE checkin (id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, "
        "recorded_at TEXT NOT NULL, received_at TEXT NOT NULL, answers TEXT NOT NULL)"
    )
    db.executemany(
        "INSERT INTO device VALUES (?, ?)",
        [(hashlib.sha256(token.encode()).hexdigest(), uuid.uuid4().hex) for token in tokens],
    )
    db.commit()
    db.close()


def serve_reference(port: int, database: Path) -> None:
    """The bare FastAPI app, served exactly as `aftercare serve` serves ours."""
    import uvicorn
    from fastapi import FastAPI, Header, HTTPException
    from pydantic import BaseModel, ConfigDict, Field

    class CheckIn(BaseModel):
        model_config = ConfigDict(extra="forbid")
        id: uuid.UUID
        recorded_at: datetime
        pain: Annotated[int, Field(ge=0, le=10, strict=True)]
        temperature_c: Annotated[float, Field(ge=34.0, le=43.0)] | None = None
        bleeding: Literal["none", "spotting", "light", "moderate", "heavy"]
        discharge: Literal["none", "normal", "unusual", "foul"]
        urination: Literal["normal", "painful", "unable"]
        allergy: Literal["none", "itching", "rash", "breathing"]
        nausea: Annotated[bool, Field(strict=True)]
        wants_contact: Annotated[bool, Field(strict=True)]
        note: Annotated[str, Field(max_length=2000)] = ""

    db = sqlite3.connect(database, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    lock = threading.Lock()  # one connection, one writer: SQLite's own rule
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/me/checkins", status_code=201)
    def store(body: CheckIn, authorization: Annotated[str, Header()]) -> dict[str, object]:
        token_hash = hashlib.sha256(authorization.removeprefix("Bearer ").encode()).hexdigest()
        with lock:
            device = db.execute(
                "SELECT patient_id FROM device WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            if device is None:
                raise HTTPException(401)
            db.execute(
                "INSERT INTO checkin VALUES (?, ?, ?, ?, ?)",
                (str(body.id), device[0], body.recorded_at.isoformat(),
                 datetime.now(UTC).isoformat(), body.model_dump_json()),
            )  # fmt: skip
            db.commit()
        return {"id": str(body.id), "severity": "none", "reasons": [], "advice": ""}

    uvicorn.run(app, host="127.0.0.1", port=port, proxy_headers=False,
                timeout_graceful_shutdown=5, log_config=None, access_log=False)  # fmt: skip


def enrol(base: str, patients: int) -> list[str]:
    nurse = call(
        f"{base}/api/v1/auth/token",
        b"username=bench%40clinic.example&password=bench-password-long",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )["access_token"]
    surgery = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    tokens = []
    for number in range(patients):
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
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--serve-reference", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--reference-db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_reference:
        serve_reference(args.serve_reference, args.reference_db)
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    reset(BENCH)

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
    port, bare_port = free_port(), free_port()
    base, bare = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    server = subprocess.Popen(
        [AFTERCARE, "serve", "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reference = None
    try:
        wait_for(base, server)
        tokens = enrol(base, args.patients)
        reference_database(folder / "reference.db", tokens)
        reference = subprocess.Popen(
            [sys.executable, __file__, "--serve-reference", str(bare_port),
             "--reference-db", str(folder / "reference.db")],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(bare, reference)
        load_env = {
            **env,
            "BENCH_TOKENS": ",".join(tokens),
            "BENCH_RECORDED_AT": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        }
        time.sleep(1.2)  # let the check-ins' time be in the past
        post = HERE / "checkin_post.lua"
        health = wrk(f"{base}/healthz", args.seconds, args.connections, None, load_env)
        checkin = wrk(f"{base}/api/v1/me/checkins", args.seconds, args.connections, post, load_env)
        bare_health = wrk(f"{bare}/healthz", args.seconds, args.connections, None, load_env)
        bare_checkin = wrk(
            f"{bare}/api/v1/me/checkins", args.seconds, args.connections, post, load_env
        )
    finally:
        for process in (server, reference):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    stored = sqlite3.connect(database).execute("SELECT count(*) FROM checkin").fetchone()[0]
    bare_stored = (
        sqlite3.connect(folder / "reference.db").execute("SELECT count(*) FROM checkin")
    ).fetchone()[0]
    shutil.rmtree(folder)

    print(f"connections: {args.connections}, {args.seconds} s each, one server process, SQLite")
    for name, result in (
        ("GET /healthz", health),
        ("POST /api/v1/me/checkins", checkin),
        ("bare GET /healthz", bare_health),
        ("bare POST check-in", bare_checkin),
    ):
        lat = result["latency_ms"]
        print(
            f"{name:<26} {result['rate']:8.0f} req/s   p50 {lat['50']:6.1f} ms"
            f"   p90 {lat['90']:6.1f} ms   p99 {lat['99']:6.1f} ms   non-2xx {result['errors']}"
        )
    print(f"check-ins stored: {stored} (bare app: {bare_stored})")
    old_ratio = checkin["rate"] / health["rate"]
    print(f"ratio check-in / healthz: {old_ratio:.2f}   (issue-era goal >= 0.50)")
    p99 = checkin["latency_ms"]["99"]
    print(f"check-in p99: {p99:.1f} ms   (issue-era goal < {OLD_P99_GOAL_MS:.0f} ms)")

    rate_ratio = checkin["rate"] / bare_checkin["rate"]
    p99_ratio = p99 / bare_checkin["latency_ms"]["99"]
    rate_ok, p99_ok = rate_ratio >= RATE_GOAL, p99_ratio <= P99_GOAL
    failed = checkin["errors"] > 0 or bare_checkin["errors"] > 0
    print(f"ratio check-in / bare check-in: {rate_ratio:.2f}   (goal >= {RATE_GOAL:.2f})")
    print(f"ratio check-in p99 / bare p99: {p99_ratio:.2f}   (goal <= {P99_GOAL:.1f})")
    record(BENCH, f"check-in rate, {args.connections} connections, SQLite", rate_ratio, "×",
           reference=REFERENCE, goal=f"≥ {RATE_GOAL}×", passed=rate_ok and not failed)  # fmt: skip
    record(BENCH, "check-in p99 latency", p99_ratio, "×", reference=REFERENCE,
           goal=f"≤ {P99_GOAL:g}×", passed=p99_ok and not failed)  # fmt: skip


if __name__ == "__main__":
    main()
