"""What the app refuses before doing any work: bodies too large, input it cannot read,
and requests without a valid token, whatever their body (api.md, "Authentication")."""

import logging
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aftercare.accounts.service import token_owner
from aftercare.accounts.throttle import TooOften
from aftercare.i18n import _, gettext_for
from aftercare.web import browser_language, make_templates, page_context

log = logging.getLogger(__name__)

SECURITY_HEADERS: dict[str, str] = {
    # Nothing about the app may travel to another site, not even its URL.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

_TOO_OFTEN = _("That was done several times in a short while. Please try again in a few minutes.")
_pages = make_templates()

# api.md: a body over 1 MiB is 413, refused before it is read in full.
MAX_BODY = 1024 * 1024
# No request of ours nests deeper than a few levels; a parser recursing into a million
# brackets would hold the process.
MAX_DEPTH = 32
# The API routes anyone may call; every other one answers 401 before it looks at a body.
PUBLIC_API = frozenset({"/api/v1/auth/token", "/api/v1/enroll", "/api/v1/push/key"})
# The patient's own routes (/api/v1/me and below); every other one behind a token is a
# nurse's.
PATIENT_API = "/api/v1/me"


def _answer(status: int, detail: object) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


class Inbound:
    """What a request must be before any route reads it, checked in one layer (each layer
    a request passes costs every step of its route: bench/checkins.py).

    - Its body within the limit: 413 at once when it says its length, else as soon as it
      passes it, so that a huge upload never holds a worker or the event loop for long.
    - JSON in UTF-8 and nested within reason, read whole here (it is at most the limit):
      the parser would otherwise recurse into a million brackets.
    - Text a database keeps, in the query or a form: a NUL byte, bytes that are not
      UTF-8 or half a surrogate pair is a 422 naming the field. JSON bodies are checked by
      their models (aftercare.inbound); a path holding such text names nothing: 404. No
      route takes a file, so a multipart body is 415.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = chunked = None
        kind = b""
        for name, value in scope["headers"]:  # the last of a name counts, as in a dict
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = value
            elif name == b"content-type":
                kind = value
        if declared is not None:
            if not declared.isdigit():
                await _answer(400, "Content-Length is not a number")(scope, receive, send)
                return
            if int(declared) > self.limit:
                await self._too_large(scope, receive, send)
                return
        received = 0
        started = refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Answer now, and tell the app the client is gone: it stops reading.
                    refused = True
                    if not started:
                        await self._too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; whatever the app says now goes nowhere
            started = started or message["type"] == "http.response.start"
            await send(message)

        # Only a chunked body can pass the limit unannounced: the server holds any other
        # to its declared length (none declared: no body), checked above. Such a request,
        # nearly every one, goes on unwatched, two wrappers fewer on each of its steps.
        inbound, outbound = (counted, watched) if chunked is not None else (receive, send)
        body: bytes | None = None
        if b"json" in kind:
            body = await _whole(inbound)
            if body is None:
                await self._cut_short(refused, scope, receive, send)
                return
            refusal = self._unreadable_json(body)
            if refusal is not None:
                await self._refuse(refusal, scope, receive, send)
                return
        if not _is_text(scope["path"]):
            await _answer(404, "Not Found")(scope, receive, send)
            return
        odd = _odd_field(scope["query_string"], "query") if scope["query_string"] else None
        if odd is not None:
            await self._refuse(_not_text(odd), scope, receive, send)
            return
        media = kind.split(b";")[0].strip().lower()
        if media == b"multipart/form-data":
            await _answer(415, "Send a form as application/x-www-form-urlencoded")(
                scope, receive, send
            )
            return
        if media == b"application/x-www-form-urlencoded":
            # A form is small (the limit holds it under 1 MiB): read it whole, check it,
            # and hand the same bytes on.
            body = await _whole(inbound)
            if body is None:
                await self._cut_short(refused, scope, receive, send)
                return
            odd = _odd_field(body, "body")
            if odd is not None:
                await self._refuse(_not_text(odd), scope, receive, send)
                return
        if body is None:
            await self.app(scope, inbound, outbound)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, outbound)

    @staticmethod
    def _unreadable_json(body: bytes) -> JSONResponse | None:
        if not _is_utf8(body):
            error = {"type": "json_invalid", "loc": ["body"], "msg": "JSON that is not UTF-8"}
            return _answer(422, [error])
        if too_deep(body):
            return _answer(413, f"The JSON is nested more than {MAX_DEPTH} levels deep")
        return None

    @staticmethod
    async def _refuse(refusal: JSONResponse, scope: Scope, receive: Receive, send: Send) -> None:
        """The refusal, unless the request needs a token it lacks: 401 whatever its input."""
        request = Request(scope)
        if _needs_token(request) and not _authenticated(request):
            refusal = _unauthorised()
        await refusal(scope, receive, send)

    @staticmethod
    async def _cut_short(refused: bool, scope: Scope, receive: Receive, send: Send) -> None:
        """A body that ended before its end: refused as too large (the 413 is sent), or the
        client left. Nobody reads this answer then; it is for the access line."""
        if not refused:
            await _answer(400, "The body ended before it was complete")(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _answer(413, f"The body is larger than {self.limit // 1024} KiB")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def _whole(receive: Receive) -> bytes | None:
    """The body, read to its end; None if the client left (or was refused) first."""
    body: bytes = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


def _not_text(where: tuple[str, str]) -> JSONResponse:
    error = {"type": "string_type", "loc": list(where),
             "msg": "contains a character that is not text (NUL, or not UTF-8)"}  # fmt: skip
    return _answer(422, [error])


_TEXT_ONLY = re.compile("[\x00\ud800-\udfff]")


def _is_text(value: str) -> bool:
    return _TEXT_ONLY.search(value) is None


def _odd_field(encoded: bytes, where: str) -> tuple[str, str] | None:
    """The first field of a query string or form whose name or value is not text."""
    for pair in encoded.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        try:
            name = unquote_to_bytes(raw_name.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return where, "(a field name)"
        try:
            value = unquote_to_bytes(raw_value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return where, name if _is_text(name) else "(a field name)"
        if not _is_text(name):
            return where, "(a field name)"
        if not _is_text(value):
            return where, name
    return None


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON nests deeper than the limit (brackets inside strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case, decided at C speed
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def _authenticated(request: Request) -> bool:
    """A valid token of the role the route is for: a patient's under /api/v1/me, a
    nurse's elsewhere. Another role's token is no better than none: 401 first."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    with Session(request.app.state.engine) as session:
        owner = token_owner(session, token.strip(), datetime.now(UTC))
    if owner is None:
        return False
    path = request.url.path
    for_patient = path == PATIENT_API or path.startswith(PATIENT_API + "/")
    return (owner.patient_id if for_patient else owner.nurse_id) is not None


def _json_safe(value: Any) -> Any:
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _unauthorised() -> JSONResponse:
    return JSONResponse(
        {"detail": "Not authenticated"}, 401, headers={"WWW-Authenticate": "Bearer"}
    )


def _needs_token(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") and path not in PUBLIC_API


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, naming each field and never echoing what was sent (it may be private).

    A request without a valid token is 401 whatever its body: the body is not looked at.
    """
    assert isinstance(exc, RequestValidationError)
    if _needs_token(request) and not _authenticated(request):
        return _unauthorised()
    errors = [
        {key: value for key, value in error.items() if key not in ("input", "ctx", "url")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": _json_safe(jsonable_encoder(errors))}, 422)


async def nested_too_deep(request: Request, exc: Exception) -> JSONResponse:
    """JSON nested deeper than the parser's recursion limit: unreadable, not a crash."""
    if _needs_token(request) and not _authenticated(request):
        return _unauthorised()
    error = {"type": "json_invalid", "loc": ["body"], "msg": "JSON nested too deeply"}
    return JSONResponse({"detail": [error]}, 422)


def _with_security_headers(response: JSONResponse) -> JSONResponse:
    # These answers are made outside the middleware that adds the headers to all others.
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


async def database_away(request: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (restarting, a network blip): 503, try again soon.

    The pool checks each connection before use, so the app recovers by itself once
    the database is back. The error itself is never shown: it may carry a query; the
    log gets its type and where it happened.
    """
    log.warning("database unavailable", exc_info=exc)
    response = JSONResponse(
        {"detail": "The service is briefly unavailable; please try again in a minute."},
        status_code=503,
        headers={"Retry-After": "30"},
    )
    return _with_security_headers(response)


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A fault of ours: a plain 500 with the usual headers, never a traceback.

    Starlette raises the error again after this answer, and the server logs it once,
    as its type and where it happened (aftercare.logs).
    """
    return _with_security_headers(JSONResponse({"detail": "Internal error"}, status_code=500))


async def too_often(request: Request, exc: Exception) -> Response:
    """429 with Retry-After: JSON for the API, a kind page for a person."""
    assert isinstance(exc, TooOften)
    headers = {"Retry-After": str(exc.retry_after)}
    if request.url.path.startswith("/api/"):
        detail = gettext_for(browser_language(request)).gettext(_TOO_OFTEN)
        return JSONResponse({"detail": detail}, 429, headers=headers)
    context = page_context(request, browser_language(request), app_name="Care")
    return _pages.TemplateResponse(request, "patient/wait.html", context, 429, headers)
