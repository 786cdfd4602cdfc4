"""Logs as one JSON object a line, holding nothing private.

What a log line may hold is decided here, not at each call: the fields below, the event
text our own code writes, and for an error its type and where it happened. An error's
message, a traceback's text and a request's path never reach a line, since any of them
may carry what a patient typed, an enrolment code or a calendar token; a request is
logged by its route template (`/start/{code}`), never its path.
"""

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# The only extra fields a line may carry (`log.info("...", extra={"fields": {...}})`).
FIELDS = frozenset(
    {"method", "route", "status", "duration_ms", "channel", "count", "job", "outcome", "error"}
)
# A request id from a proxy is kept only if it looks like one; anything else is replaced.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def _where(tb: TracebackType | None) -> list[str]:
    """Where an error went through: our own frames and the last one, as file, line and
    function; never the source line or a value."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        path = code.co_filename
        if "/aftercare/" in path or tb.tb_next is None:
            short = path.rsplit("/aftercare/", 1)[-1] if "/aftercare/" in path else path
            frames.append(f"{short.rsplit('/', 2)[-1]}:{tb.tb_lineno}:{code.co_name}")
        tb = tb.tb_next
    return frames[-8:]


# json.dumps(line, ensure_ascii=False, default=str), without making an encoder each line.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Our own events are written with safe arguments; the libraries' (the server's
        # address, a job's name) hold nothing of a patient's either.
        event = record.getMessage().strip()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
        }
        current = request_id.get()
        if current:
            line["request_id"] = current
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k in FIELDS})
        if record.exc_info and record.exc_info[0] is not None:
            kind, _value, tb = record.exc_info
            line["error"] = kind.__name__
            line["where"] = _where(tb)
        return _encode(line)


def configure(level: str = "INFO") -> None:
    """Every logger of the process (ours, uvicorn's, the scheduler's) writes JSON to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    # The access line is ours (below): uvicorn's would hold the path, codes and tokens.
    logging.getLogger("uvicorn.access").disabled = True
    # The scheduler says "Running job ..." every few seconds; its warnings still pass.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # A line holds none of where it was logged from, the thread or the process
    # (`JsonFormatter`): the records need not gather them, as the logging HOWTO's
    # "Optimization" says. Finding the caller walked the stack on every request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


access_log = logging.getLogger("aftercare.access")


def route_of(scope: Scope) -> str:
    """The route template the request matched; never the path itself."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    if scope["path"].startswith("/static/"):
        return "/static/{path}"
    return "(no route)"


Headers = Iterable[tuple[bytes, bytes]]
# What an answer's headers become before they leave (the security headers, aftercare.app).
AnswerHeaders = Callable[[Scope, Headers], list[tuple[bytes, bytes]]]


class AccessLog:
    """One line per request: id, method, route template, status, duration. Each answer
    gets the request's id as a header, and `answer_headers` the others every answer
    carries: one layer for both, since every layer costs each step of a request
    (bench/checkins.py)."""

    def __init__(self, app: ASGIApp, answer_headers: AnswerHeaders | None = None) -> None:
        self.app = app
        self.answer_headers = answer_headers or (lambda _scope, headers: list(headers))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # 16 random hex digits, as uuid4().hex[:16] gave, without building a UUID each time.
        rid = given if _REQUEST_ID.fullmatch(given) else os.urandom(8).hex()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = self.answer_headers(scope, message.get("headers", ()))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = round((time.perf_counter() - started) * 1000, 1)
            fields = {"method": scope["method"], "route": route_of(scope), "status": status,
                      "duration_ms": duration}  # fmt: skip
            access_log.info("request", extra={"fields": fields})
            request_id.reset(token)
