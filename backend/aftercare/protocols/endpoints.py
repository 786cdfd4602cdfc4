from fastapi import APIRouter
from pydantic import BaseModel

from aftercare.accounts.deps import CurrentNurse
from aftercare.api_errors import SIGNED_IN
from aftercare.protocols.deps import ProtocolsDep

router = APIRouter(prefix="/api/v1", tags=["protocols"], responses=SIGNED_IN)


class ProtocolPublic(BaseModel):
    id: str
    name: str
    days: int
    version: int
    languages: list[str]


@router.get("/protocols")
def list_protocols(protocols: ProtocolsDep, nurse: CurrentNurse) -> list[ProtocolPublic]:
    """The procedures this server knows, named in English."""
    return [
        ProtocolPublic(
            id=protocol.id,
            name=protocol.name("en"),
            days=protocol.days,
            version=protocol.version,
            languages=list(protocol.spec.languages),
        )
        for protocol in sorted(protocols.values(), key=lambda p: p.id)
    ]
