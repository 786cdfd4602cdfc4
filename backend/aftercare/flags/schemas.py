import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from aftercare.inbound import Inbound

FlagStatus = Literal["open", "acknowledged", "resolved"]


Outcome = Literal[
    "called-patient",
    "replied-by-message",
    "advised-to-come-in",
    "sent-to-emergency",
    "no-action-needed",
]


class Reason(BaseModel):
    code: str
    message: str


class FlagPublic(BaseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    patient_alias: str
    severity: Literal["amber", "red"]
    status: FlagStatus
    reasons: list[Reason]
    checkin_id: uuid.UUID | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None
    resolution_outcome: Outcome | None = None


class FlagList(BaseModel):
    items: list[FlagPublic]


class FlagResolve(Inbound):
    note: Annotated[str, Field(min_length=1, max_length=2000)]
    # An extension of the contract: what was done, as the console offers it.
    outcome: Outcome | None = None
