"""The flag queue: what needs a nurse now, red first, oldest first, kept live.

The page lists the waiting flags; `/console/queue/events` tells the page when
the queue changed (Server-Sent Events) and the page then fetches
`/console/queue/list`, the list alone. Acknowledging and resolving are plain
forms, so they work from any page that shows a flag card (`next` says where
to go back to).
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Form, Request, status
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from aftercare.accounts.sessions import ConsoleUser
from aftercare.console.card_words import card_words
from aftercare.console.flag_cards import (
    PAGE,
    patient_cards,
    queue_counts,
    read_counts,
)
from aftercare.console.web import ConsoleDep, console_language, render
from aftercare.deps import EngineDep, NowDep, SessionDep, WriterDep, client_of
from aftercare.flags import service
from aftercare.flags.schemas import Outcome
from aftercare.i18n import _, gettext_for
from aftercare.protocols.deps import ProtocolsDep
from aftercare.protocols.loader import Protocol
from aftercare.web import CsrfChecked
from aftercare.writer import Writer

router = APIRouter(include_in_schema=False)
QUEUE = "/console/queue"
NOTE_MAX = 2000
# A card shows a patient's waiting flags; a form naming more than this is not one of ours.
MAX_CARD_FLAGS = 100
# The live queue: how often it looks, how often it proves it is alive, and how
# long one stream lasts before the browser reconnects (bounded streams keep
# the server's connection count bounded and let it shut down).
POLL_SECONDS = 2.0
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 120.0
RETRY_MS = 3000
_OUTCOMES: dict[str, Outcome] = {outcome: outcome for outcome in service.OUTCOMES}


def _queue_values(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    protocols: dict[str, Protocol],
    now: datetime,
    offset: int,
) -> dict[str, Any]:
    """What the queue page and its list fragment show."""
    language = console_language(request, user)
    cards = patient_cards(session, user.clinic, protocols, language, now, offset=offset)
    counts = queue_counts(session, user.clinic.id)
    here = f"{QUEUE}?offset={offset}" if offset else QUEUE
    return {
        "cards": cards,
        "counts": counts,
        "offset": offset,
        "page_size": PAGE,
        "next_offset": offset + PAGE if offset + PAGE < counts.total else None,
        "next": here,
        "outcomes": service.OUTCOMES,
        "words": card_words(language),
    }


def _offset(raw: str | None) -> int | None:
    """A page offset from the query string; None when it is not a whole number ≥ 0."""
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


def _problem(request: Request, user: ConsoleUser, message: str, **values: object) -> str:
    return gettext_for(console_language(request, user)).gettext(message) % values


@router.get("/console/queue", response_model=None)
def queue_page(
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    protocols: ProtocolsDep,
    now: NowDep,
    offset: str | None = None,
) -> Response:
    """The clinic's waiting flags, a page of 50 at a time."""
    start = _offset(offset)
    if start is None:
        problem = _problem(request, user, _("Offset: give a whole number, 0 or more."))
        return _queue_with(request, user, session, protocols, now, 422, problem)
    values = _queue_values(request, user, session, protocols, now, start)
    return render(request, user, "console/queue.html", **values)


@router.get("/console/queue/list", response_model=None)
def queue_list(
    request: Request,
    user: ConsoleDep,
    session: SessionDep,
    protocols: ProtocolsDep,
    now: NowDep,
    offset: str | None = None,
) -> Response:
    """The list alone, for the page's script to swap in when the queue changed."""
    values = _queue_values(request, user, session, protocols, now, _offset(offset) or 0)
    return render(request, user, "console/_queue_list.html", **values)


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def queue_stream(engine: Engine, clinic_id: uuid.UUID) -> AsyncIterator[str]:
    """Events for one browser: the queue's counts at once, then whenever they change.

    A disconnected browser cancels this generator (Starlette listens for it);
    the stream also ends by itself after STREAM_SECONDS and the browser's
    EventSource reconnects.
    """
    started = last_sent = time.monotonic()
    version: str | None = None
    yield f"retry: {RETRY_MS}\n\n"
    while time.monotonic() - started < STREAM_SECONDS:
        # A short session in a worker thread: the loop is never blocked and no
        # connection is held between looks.
        counts = await run_in_threadpool(read_counts, engine, clinic_id)
        if counts.version != version:
            version = counts.version
            last_sent = time.monotonic()
            yield _event("queue", counts.as_event())
        elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
            last_sent = time.monotonic()
            yield ": still here\n\n"
        await anyio.sleep(POLL_SECONDS)


@router.get("/console/queue/events", response_model=None)
def queue_events(user: ConsoleDep, engine: EngineDep) -> Response:
    """Server-Sent Events: `queue` with the counts whenever the clinic's queue changes.

    The sign-in check's transaction ends when this returns (`deps.unit_of_work`): the
    stream keeps no pooled connection; it asks the database from time to time."""
    return StreamingResponse(
        queue_stream(engine, user.clinic.id),
        media_type="text/event-stream",
        # no-transform and X-Accel-Buffering: proxies must pass events on at once.
        headers={"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no"},
    )


def _back_to(next_path: str | None) -> str:
    """A console path of this site, or the queue (never another site: no open redirect)."""
    if (
        next_path
        and next_path.startswith("/console/")
        and "\\" not in next_path
        and all(char > " " for char in next_path)
    ):
        return next_path
    return QUEUE


def _queue_with(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    protocols: dict[str, Protocol],
    now: datetime,
    code: int,
    problem: str,
) -> Response:
    """The queue's first page, saying what went wrong."""
    values = _queue_values(request, user, session, protocols, now, 0)
    return render(request, user, "console/queue.html", code, problem=problem, **values)


def _resolution(
    request: Request, user: ConsoleUser, outcome: str | None, note: str | None
) -> tuple[str | None, Outcome | None, str]:
    """(the problem or None, the outcome chosen, the note) of a resolve form."""
    text = (note or "").strip()
    chosen = _OUTCOMES.get(outcome or "")
    if chosen is None:
        return _problem(request, user, _("Outcome: choose what was done.")), None, text
    if len(text) > NOTE_MAX:
        message = _("Note: at most %(max)s characters.")
        return _problem(request, user, message, max=NOTE_MAX), None, text
    return None, chosen, text


def _flag_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


@router.post("/console/flags/{flag_id}/acknowledge", response_model=None)
def acknowledge(
    flag_id: str,
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Say a nurse is on it; then back to the page the form was on."""
    return _act_on_card(request, user, session, writer, protocols, now, [flag_id], "acknowledge",
                        _back_to(next))  # fmt: skip


@router.post("/console/flags/{flag_id}/resolve", response_model=None)
def resolve(
    flag_id: str,
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
    next: Annotated[str | None, Form()] = None,
    outcome: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    """Close a flag with what was done (an outcome) and an optional note."""
    problem, chosen, text = _resolution(request, user, outcome, note)
    if problem is not None:
        return _queue_with(request, user, session, protocols, now, 422, problem)
    return _act_on_card(request, user, session, writer, protocols, now, [flag_id], "resolve",
                        _back_to(next), note=text or None, outcome=chosen)  # fmt: skip


# --- A patient's card: every flag it shows at once ---


def _act_on_card(
    request: Request,
    user: ConsoleUser,
    session: SessionDep,
    writer: Writer,
    protocols: dict[str, Protocol],
    now: datetime,
    raw_ids: list[str],
    action: service.Action,
    back: str,
    note: str | None = None,
    outcome: Outcome | None = None,
) -> Response:
    """Acknowledge or resolve the flags a form named (one flag's, or all a card showed, never
    one that arrived since): each keeps its own history and audit row; one resolved
    meanwhile by a colleague is left as it is."""
    flag_ids = [_flag_id(raw) for raw in raw_ids[:MAX_CARD_FLAGS]]
    language = console_language(request, user)
    missing = resolved = 0
    for flag_id in flag_ids:
        try:
            if flag_id is None:
                raise service.FlagNotFound("")
            service.change(session, writer, user.nurse, flag_id, action, now, protocols,
                           language, note, outcome=outcome, client=client_of(request))  # fmt: skip
        except service.FlagNotFound:
            missing += 1
        except service.FlagAlreadyResolved:
            resolved += 1
    if len(flag_ids) == 1 and missing:
        problem = _problem(request, user, _("Not found"))
        return _queue_with(request, user, session, protocols, now, 404, problem)
    if len(flag_ids) == 1 and resolved:
        problem = _problem(request, user, _("This flag is already resolved"))
        return _queue_with(request, user, session, protocols, now, 409, problem)
    if missing + resolved == len(flag_ids):
        problem = _problem(request, user, _("These flags are already resolved, or not found."))
        return _queue_with(request, user, session, protocols, now, 409, problem)
    return RedirectResponse(back, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/console/cards/acknowledge", response_model=None)
def acknowledge_card(
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
    next: Annotated[str | None, Form()] = None,
    flag_id: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Acknowledge every flag a patient's card showed."""
    return _act_on_card(request, user, session, writer, protocols, now, flag_id or [],
                        "acknowledge", _back_to(next))  # fmt: skip


@router.post("/console/cards/resolve", response_model=None)
def resolve_card(
    request: Request,
    user: ConsoleDep,
    _csrf: CsrfChecked,
    session: SessionDep,
    writer: WriterDep,
    protocols: ProtocolsDep,
    now: NowDep,
    next: Annotated[str | None, Form()] = None,
    flag_id: Annotated[list[str] | None, Form()] = None,
    outcome: Annotated[str | None, Form()] = None,
    note: Annotated[str | None, Form()] = None,
) -> Response:
    """Resolve every flag a patient's card showed, with one outcome and note for all."""
    problem, chosen, text = _resolution(request, user, outcome, note)
    if problem is not None:
        return _queue_with(request, user, session, protocols, now, 422, problem)
    return _act_on_card(request, user, session, writer, protocols, now, flag_id or [], "resolve",
                        _back_to(next), note=text or None, outcome=chosen)  # fmt: skip
