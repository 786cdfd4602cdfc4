"""Typed dependencies shared by every route: settings, the database session, the clock and
the client's address. Who is signed in is each domain's own: `accounts.deps` (a nurse),
`patients.deps` (a patient's phone); the procedure files come from `protocols.deps`."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session

from aftercare.db import WROTE, has_writes
from aftercare.settings import Settings
from aftercare.writer import Writer

# Plain values come from `async def` dependencies: FastAPI would run a plain
# `def` in its thread pool, a hop that costs more than the work.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def writer_of(request: Request) -> Writer:
    """The single writer (`writer.py`): the door of the hot writes, a job at a time."""
    writer: Writer = request.app.state.writer
    return writer


async def get_writer(request: Request) -> Writer:
    return writer_of(request)


async def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> AsyncIterator[Session]:
    """The request's session, made and closed on the event loop: a plain `def` generator
    would cost two trips through the thread pool per request, more than a small route's
    work. Making a session touches no database; closing one that holds a connection
    rolls back what was not committed, which on PostgreSQL is a round trip, so that
    close goes to the thread pool (SQLite's is a few microseconds in this process, and
    a rollback never waits for a lock)."""
    session = Session(engine)
    try:
        yield session
    finally:
        if session.get_transaction() is None or engine.dialect.name == "sqlite":
            session.close()
        else:
            # Shielded: a request cancelled midway (a closed tab) still gives its
            # connection back to the pool.
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)


async def unit_of_work(
    session: Annotated[Session, Depends(get_session)],
) -> AsyncIterator[Session]:
    """The request's one transaction: services add and flush, and what the route changed
    is committed here, once, when the route has returned and before its answer leaves
    (`scope="function"`), so a client told "done" can rely on it. A route that raises
    (a 4xx included) commits nothing. The commit waits on the disk (SQLite's fsync) or
    the network (PostgreSQL), so it runs in the thread pool, shielded: a closed tab
    does not leave it half done. A route that wrote nothing ends its read transaction
    here; the session itself is closed after the answer is sent."""
    yield session
    if has_writes(session):
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(session.commit)
        session.info[WROTE] = False
    elif session.in_transaction():
        # Nothing to keep: the connection goes back to the pool now, not when a long
        # answer (the queue's event stream, a CSV) has been sent.
        if session.get_bind().dialect.name == "sqlite":
            session.rollback()
        else:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.rollback)


def clock() -> datetime:
    """The request's clock; the one place routes learn the time (`NowDep`, or called
    by the hot routes, which read what they need off the request: see `submit_checkin`)."""
    return datetime.now(UTC)


async def get_now() -> datetime:
    return clock()


@lru_cache(maxsize=8)
def _networks(trusted: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(
        ip_network(part.strip(), strict=False) for part in trusted.split(",") if part.strip()
    )


def _trusted(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_of(request: Request) -> str:
    """The client's own address: `X-Forwarded-For` is read only when it comes from a
    trusted proxy (`AFTERCARE_TRUSTED_PROXIES`), from the right, skipping trusted hops;
    so that a client behind a clinic's proxy counts for itself, and no client can
    claim another's address."""
    peer = request.client.host if request.client else "unknown"
    settings: Settings = request.app.state.settings
    networks = _networks(settings.trusted_proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, networks):
            return hop[:100]
    return peer


async def client_address(request: Request) -> str:
    return client_of(request)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# Every route's session is its unit of work; routes never commit.
EngineDep = Annotated[Engine, Depends(get_engine)]
WriterDep = Annotated[Writer, Depends(get_writer)]
SessionDep = Annotated[Session, Depends(unit_of_work, scope="function")]
NowDep = Annotated[datetime, Depends(get_now)]
ClientDep = Annotated[str, Depends(client_address)]
