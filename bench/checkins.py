"""The hot paths against a bare FastAPI app's /healthz, SQLite then PostgreSQL, in one run.

    .venv/bin/python bench/checkins.py [--databases sqlite,postgresql] [--seconds 10]
                                       [--connections 16] [--rounds 3]

For each database: a fresh one (SQLite in WAL mode with synchronous=FULL), `aftercare
serve` on it, 50 patients enrolled through the API; then wrk (Debian package `wrk`),
from a separate process, loads one after the other: the bare app's GET /healthz, ours,
POST /api/v1/me/checkins (a fresh check-in each request, bench/checkin_post.lua) and
GET /today with the phones' session cookies (bench/today_get.lua).

A shared machine's speed drifts by a fifth within minutes, so the loads run in rounds
(3 by default), each round measuring the bare /healthz again right before ours: a
figure is the median over the rounds of its ratio to the bare rate of its own round,
and the rounds' spread is printed and recorded beside it.

The reference (issue 14) is not our code: bench/bare_app.py, a FastAPI app with a
/healthz and nothing else, served through the same uvicorn set-up as `aftercare serve`
(one process) in the same run. Every figure is a share of its rate. Goals, on SQLite:
our /healthz at least 0.8 of it, the check-in POST at least 0.5 with a p99 under 50 ms,
Today at least 0.3. PostgreSQL's figures are printed and recorded beside them, not held
to these goals.

On SQLite the bench also keeps its earlier reference, a bare FastAPI app whose POST
/api/v1/me/checkins validates the same body with a plain pydantic model, looks the
bearer token's SHA-256 up and inserts the check-in with a commit per request (this
script run with --serve-reference): the check-in rate as a share of that one, goal 0.45
(our GET /healthz ran at 0.85-0.99 of that rate when the goal was set, so half of it).
"""

import argparse
import hashlib
import json
import os
import re
import secrets
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Annotated, Literal

from figures import record, reset

HERE = Path(__file__).resolve().parent
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
BENCH = "checkins"
RATE_GOAL = 0.45  # of the bare app's check-in rate (the docstring says why)
# Issue 14's goals, as shares of the bare app's GET /healthz rate (SQLite, 16 connections).
HEALTH_GOAL, CHECKIN_GOAL, TODAY_GOAL = 0.8, 0.5, 0.3
P99_GOAL_MS = 50.0
REFERENCE = "bare FastAPI app storing the same check-in in SQLite, same uvicorn set-up, same run"
BARE_HEALTH = "bare FastAPI app's GET /healthz (bench/bare_app.py), same uvicorn set-up, same run"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "aftercare_bench_checkins"


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
    env = {**env, "BENCH_SEED": str(secrets.randbelow(2**31))}  # new check-in ids each run
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latencies = {}
    for pct in ("50", "90", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        latencies[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    answered = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rate": rate, "latency_ms": latencies, "errors": int(errors.group(1)) if errors else 0,
            "answered": answered}  # fmt: skip


def stored_checkins(url: str) -> int:
    """How many check-ins the database holds (each answered POST must have added one)."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            return int(db.execute("SELECT count(*) FROM checkin").fetchone()[0])
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM checkin").fetchone()[0])


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


def start_aftercare(url: str, folder: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """A fresh database with the bench's nurse, and `aftercare serve` on it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(AFTERCARE_DATABASE_URL=url, AFTERCARE_SECRET_KEY="bench-secret")
    subprocess.run([AFTERCARE, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run(
        [AFTERCARE, "nurse", "create", "bench@clinic.example", "--clinic", "bench",
         "--password-stdin"],
        input="bench-password-long\n", text=True, env=env, check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([AFTERCARE, "serve", "--port", str(port)], env=env, cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(base, server)
    return server, base, env


def fresh_postgres(name: str) -> str:
    """An empty PostgreSQL database for the bench (dropped first if a run left one)."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def start_helper(args: list[str], folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([sys.executable, *args, str(port)], cwd=folder,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for(base, process)
    return process, base


def line(name: str, result: dict, bare_health: dict) -> None:
    lat = result["latency_ms"]
    print(
        f"{name:<34} {result['rate']:8.0f} req/s {result['rate'] / bare_health['rate']:6.2f}×"
        f"   p50 {lat['50']:6.1f} ms   p99 {lat['99']:6.1f} ms   non-2xx {result['errors']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-reference", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--reference-db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_reference:
        serve_reference(args.serve_reference, args.reference_db)
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install -y wrk")
    reset(BENCH)
    for kind in args.databases.split(","):
        run(kind, args)


def run(kind: str, args: argparse.Namespace) -> None:
    """One database: the bare /healthz, then ours, the check-in POST and Today, one after
    the other from the same wrk; on SQLite also the bare app's check-in."""
    folder = Path(tempfile.mkdtemp(prefix=f"aftercare-bench-{kind}-"))
    database = folder / "bench.db"
    url = f"sqlite:///{database}" if kind == "sqlite" else fresh_postgres(PG_DATABASE)
    connections, seconds = args.connections, args.seconds
    processes: list[subprocess.Popen] = []
    try:
        server, base, env = start_aftercare(url, folder)
        processes.append(server)
        bare_app, bare = start_helper([str(HERE / "bare_app.py")], folder)
        processes.append(bare_app)
        tokens = enrol(base, args.patients)
        load_env = {
            **env,
            "BENCH_TOKENS": ",".join(tokens),
            "BENCH_RECORDED_AT": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
        }
        reference_base = None
        if kind == "sqlite":
            reference_database(folder / "reference.db", tokens)
            reference, reference_base = start_helper(
                [__file__, "--reference-db", str(folder / "reference.db"), "--serve-reference"],
                folder,
            )
            processes.append(reference)
        time.sleep(1.2)  # let the check-ins' time be in the past
        post, today_get = HERE / "checkin_post.lua", HERE / "today_get.lua"
        rounds: list[Round] = []
        for number in range(args.rounds):
            print(f"{kind}: round {number + 1} of {args.rounds}", flush=True)

            def load(url: str, script: Path | None = None) -> dict:
                return wrk(url, seconds, connections, script, load_env)

            bare_health = load(f"{bare}/healthz")
            health = load(f"{base}/healthz")
            checkin = load(f"{base}/api/v1/me/checkins", post)
            today = load(f"{base}/today", today_get)
            stored = load(f"{reference_base}/api/v1/me/checkins", post) if reference_base else None
            rounds.append(Round(bare_health, health, checkin, today, stored))
        # A check-in sent again is answered from what is stored, far cheaper than a new
        # one: every answered POST must have stored a check-in of its own.
        sent, kept = sum(one.checkin["answered"] for one in rounds), stored_checkins(url)
        print(f"{kind}: {kept:,} check-ins stored for {sent:,} answered", flush=True)
        if kept < sent:
            sys.exit(f"{kind}: {sent - kept} check-ins were sent again, not new ones")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
    shutil.rmtree(folder)
    report(kind, connections, seconds, rounds)


@dataclass
class Round:
    """One round's loads, one after the other; the bare /healthz first, as its reference."""

    bare_health: dict
    health: dict
    checkin: dict
    today: dict
    bare_checkin: dict | None


def spread(values: list[float], unit: str = "×") -> str:
    """The rounds' values, as "median (lowest-highest over 3 rounds)"."""
    if len(values) == 1:
        return f"{values[0]:.2f}{unit}"
    lowest, highest = min(values), max(values)
    return f"{median(values):.2f}{unit} ({lowest:.2f}-{highest:.2f} over {len(values)} rounds)"


def report(kind: str, connections: int, seconds: int, rounds: list[Round]) -> None:
    database = "SQLite" if kind == "sqlite" else "PostgreSQL"
    print(f"\n{database}: {connections} connections, {seconds} s each, one server process"
          "; ratios of the bare app's GET /healthz of the same round")  # fmt: skip
    for number, one in enumerate(rounds, 1):
        print(f"round {number}")
        line("bare GET /healthz", one.bare_health, one.bare_health)
        line("GET /healthz", one.health, one.bare_health)
        line("POST /api/v1/me/checkins", one.checkin, one.bare_health)
        line("GET /today", one.today, one.bare_health)
        if one.bare_checkin is not None:
            line("bare POST check-in (SQLite)", one.bare_checkin, one.bare_health)
    failed = any(r["errors"] for one in rounds for r in (one.health, one.checkin, one.today))
    held = kind == "sqlite"  # the goals are for SQLite; PostgreSQL's figures are shown
    bare_rate = f"{median([one.bare_health['rate'] for one in rounds]):,.0f}/s"
    print(f"\nmedians over {len(rounds)} rounds (the bare GET /healthz: {bare_rate})")
    for figure, result, goal in (
        ("GET /healthz", "health", HEALTH_GOAL),
        ("check-in POST", "checkin", CHECKIN_GOAL),
        ("GET /today", "today", TODAY_GOAL),
    ):
        ratios = [getattr(one, result)["rate"] / one.bare_health["rate"] for one in rounds]
        ratio = median(ratios)
        print(f"{figure:<34} {spread(ratios)}")
        record(BENCH, f"{figure} rate, {connections} connections, {database}", ratio, "×",
               reference=f"{BARE_HEALTH} ({bare_rate}); {spread(ratios)}",
               goal=f"≥ {goal}×" if held else "shown, not a goal",
               passed=(ratio >= goal and not failed) if held else None)  # fmt: skip
    p99s = [one.checkin["latency_ms"]["99"] for one in rounds]
    p99 = median(p99s)
    print(f"{'check-in POST p99':<34} {spread(p99s, ' ms')}")
    p99_goal = f"< {P99_GOAL_MS:g} ms" if held else "shown, not a goal"
    p99_ok = (p99 < P99_GOAL_MS and not failed) if held else None
    record(BENCH, f"check-in POST p99 latency, {connections} connections, {database}", p99,
           "ms", reference=f"wall clock, wrk; {spread(p99s, ' ms')}", goal=p99_goal,
           passed=p99_ok)  # fmt: skip
    stored = [(one.checkin, one.bare_checkin) for one in rounds if one.bare_checkin]
    if not stored:
        return
    ratios = [ours["rate"] / bare["rate"] for ours, bare in stored]
    rate_ratio = median(ratios)
    print(f"check-in against the bare app's check-in: rate {spread(ratios)} (goal >= "
          f"{RATE_GOAL:.2f})")  # fmt: skip
    record(BENCH, f"check-in rate, {connections} connections, SQLite", rate_ratio, "×",
           reference=f"{REFERENCE}; {spread(ratios)}", goal=f"≥ {RATE_GOAL}×",
           passed=rate_ratio >= RATE_GOAL and not failed)  # fmt: skip


if __name__ == "__main__":
    main()
