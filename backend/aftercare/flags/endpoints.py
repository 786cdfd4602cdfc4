import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from aftercare.accounts.deps import CurrentNurse
from aftercare.api_errors import NOT_FOUND, SIGNED_IN, Responses, error
from aftercare.audit.service import record_api_read
from aftercare.deps import ClientDep, NowDep, SessionDep, WriterDep, client_of
from aftercare.flags import service
from aftercare.flags.schemas import FlagList, FlagPublic, FlagResolve, FlagStatus, Outcome
from aftercare.i18n import _
from aftercare.inbound import Offset
from aftercare.protocols.deps import ProtocolsDep
from aftercare.web import browser_language
from aftercare.writer import Writer

router = APIRouter(prefix="/api/v1/flags", tags=["flags"], responses=SIGNED_IN)
ALREADY_RESOLVED: Responses = {409: error("This flag is already resolved")}


@router.get("")
def list_flags(
    request: Request,
    session: SessionDep,
    nurse: CurrentNurse,
    protocols: ProtocolsDep,
    now: NowDep,
    client: ClientDep,
    flag_status: Annotated[FlagStatus, Query(alias="status")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Offset = 0,
) -> FlagList:
    """The clinic's flags in one status: red before amber, then oldest first.

    Reasons are worded in the language the client asks for (Accept-Language).
    """
    items = service.queue(
        session, nurse.clinic_id, protocols, browser_language(request),
        statuses=[flag_status], limit=limit, offset=offset,
    )  # fmt: skip
    # The queue shows every flagged patient's answers: a read of their records.
    record_api_read(session, now, nurse, "flags", nurse.clinic_id, flag_status, client)
    return FlagList(items=items)


def _act(
    request: Request,
    session: SessionDep,
    writer: Writer,
    nurse: CurrentNurse,
    protocols: ProtocolsDep,
    now: NowDep,
    flag_id: uuid.UUID,
    action: service.Action,
    note: str | None = None,
    outcome: Outcome | None = None,
) -> FlagPublic:
    try:
        return service.change(
            session, writer, nurse, flag_id, action, now, protocols, browser_language(request),
            note, outcome=outcome, client=client_of(request),
        )  # fmt: skip
    except service.FlagNotFound:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=_("Not found")) from None
    except service.FlagAlreadyResolved:
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT, detail=_("This flag is already resolved")
        ) from None


@router.post("/{flag_id}/acknowledge", responses=NOT_FOUND | ALREADY_RESOLVED)
def acknowledge_flag(
    flag_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    writer: WriterDep,
    nurse: CurrentNurse,
    protocols: ProtocolsDep,
    now: NowDep,
) -> FlagPublic:
    """Say a nurse is on it; acknowledging twice changes nothing."""
    return _act(request, session, writer, nurse, protocols, now, flag_id, "acknowledge")


@router.post("/{flag_id}/resolve", responses=NOT_FOUND | ALREADY_RESOLVED)
def resolve_flag(
    flag_id: uuid.UUID,
    body: FlagResolve,
    request: Request,
    session: SessionDep,
    writer: WriterDep,
    nurse: CurrentNurse,
    protocols: ProtocolsDep,
    now: NowDep,
) -> FlagPublic:
    """Close a flag with a note of what was done; it is never reopened."""
    return _act(
        request,
        session,
        writer,
        nurse,
        protocols,
        now,
        flag_id,
        "resolve",
        body.note,
        body.outcome,
    )
