"""What the guards in front of every request cost, against a bare FastAPI app, in one run.

    .venv/bin/python bench/guards.py [--requests 20000]

The same one-route FastAPI app is called in-process (no sockets, so that only the CPU
work of the layers is measured) bare, then wrapped in Aftercare's outer layers: the
access log with the security headers (aftercare.logs.AccessLog with
app.SecurityHeaders, logging at INFO to a null handler) and the checks of what comes in
(guards.Inbound: the body limit, JSON's depth, odd text in a query or form). Three
requests: a GET with a query, a small JSON POST, a small form POST. Prints microseconds
per request and the ratio to the bare app, and records the ratio (the reference is the
bare app itself, measured in the same run). No goal was set when the guards came
(issue 11): the figures are recorded without one.
"""

import argparse
import asyncio
import json
import logging
import statistics
import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from figures import record, reset

from aftercare.app import SecurityHeaders
from aftercare.guards import Inbound
from aftercare.logs import AccessLog, JsonFormatter

Call = Callable[[dict, Callable, Callable], Awaitable[None]]
BENCH = "guards"


def bare() -> FastAPI:
    app = FastAPI()

    @app.get("/thing")
    async def read(q: str = "") -> dict[str, str]:
        return {"q": q}

    @app.post("/thing")
    async def write(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


def guarded() -> Call:
    app: Call = bare()
    return AccessLog(Inbound(app), answer_headers=SecurityHeaders())


REQUESTS = {
    "GET ?q=": ("GET", "/thing", b"q=hello+there&page=2", b"", b""),
    "POST json": (
        "POST",
        "/thing",
        b"",
        b"application/json",
        json.dumps({"pain": 3, "note": "a short note", "bleeding": "none"}).encode(),
    ),
    "POST form": (
        "POST",
        "/thing",
        b"",
        b"application/x-www-form-urlencoded",
        b"csrf_token=abcdef0123456789&body=hello+there&id=1234",
    ),
}


async def one(app: Call, method: str, path: str, query: bytes, kind: bytes, body: bytes) -> None:
    headers = [(b"host", b"bench"), (b"content-length", str(len(body)).encode())]
    if kind:
        headers.append((b"content-type", kind))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query, "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
    }  # fmt: skip
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message

    await app(scope, receive, send)


async def per_request(app: Call, request: tuple, count: int) -> float:
    for _ in range(200):  # warm up
        await one(app, *request)
    started = time.perf_counter()
    for _ in range(count):
        await one(app, *request)
    return (time.perf_counter() - started) / count * 1e6


async def main(count: int) -> None:
    handler = logging.NullHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger().handlers[:] = [handler]
    logging.getLogger().setLevel(logging.INFO)
    reset(BENCH)
    reference, ours = bare(), guarded()
    print(f"{'request':<11} {'bare µs':>9} {'guarded µs':>11} {'ratio':>7}")
    for name, request in REQUESTS.items():
        plain = statistics.median([await per_request(reference, request, count) for _ in range(3)])
        wrapped = statistics.median([await per_request(ours, request, count) for _ in range(3)])
        print(f"{name:<11} {plain:>9.1f} {wrapped:>11.1f} {wrapped / plain:>7.2f}")
        record(BENCH, f"{name} through the outer layers, in-process", wrapped / plain, "×",
               reference="bare FastAPI app, same route, in-process, same run", goal="",
               passed=None)  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    asyncio.run(main(parser.parse_args().requests))
