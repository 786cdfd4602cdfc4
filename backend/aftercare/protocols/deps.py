"""The procedure files the app loaded at start, as a route's dependency."""

from typing import Annotated

from fastapi import Depends, Request

from aftercare.protocols.loader import Protocol


def protocols_of(request: Request) -> dict[str, Protocol]:
    protocols: dict[str, Protocol] = request.app.state.protocols
    return protocols


async def get_protocols(request: Request) -> dict[str, Protocol]:
    return protocols_of(request)


ProtocolsDep = Annotated[dict[str, Protocol], Depends(get_protocols)]
