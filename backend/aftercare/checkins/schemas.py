import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aftercare.flags.schemas import Reason
from aftercare.inbound import Inbound, WrittenTime

Bleeding = Literal["none", "spotting", "light", "moderate", "heavy"]
Discharge = Literal["none", "normal", "unusual", "foul"]
Urination = Literal["normal", "painful", "unable"]
Allergy = Literal["none", "itching", "rash", "breathing"]
Severity = Literal["none", "amber", "red"]


class CheckInCreate(Inbound):
    """A check-in as the phone sends it; `id` is made on the phone, so a resend is recognised."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    recorded_at: WrittenTime
    pain: Annotated[int, Field(ge=0, le=10, strict=True)]
    temperature_c: Annotated[float, Field(ge=34.0, le=43.0, allow_inf_nan=False)] | None = None
    bleeding: Bleeding
    discharge: Discharge
    urination: Urination
    allergy: Allergy
    nausea: Annotated[bool, Field(strict=True)]
    wants_contact: Annotated[bool, Field(strict=True)]
    note: Annotated[str, Field(max_length=2000)] = ""


class CheckInAnswer(BaseModel):
    id: uuid.UUID
    severity: Severity
    reasons: list[Reason]
    advice: str


class CheckInPublic(BaseModel):
    id: uuid.UUID
    recorded_at: datetime
    day: int
    # The answers are null only once the patient was anonymised, after the clinic's
    # retention time: the check-in is kept for the clinic's report, its answers are not.
    pain: int | None
    temperature_c: float | None
    bleeding: Bleeding | None
    discharge: Discharge | None
    urination: Urination | None
    allergy: Allergy | None
    nausea: bool | None
    wants_contact: bool | None
    note: str
    severity: Severity
    reasons: list[Reason]
    advice: str
    # When the clinic first saw it (in the patient's time zone), or null: never who.
    seen_by_clinic_at: datetime | None = None


class CheckInList(BaseModel):
    items: list[CheckInPublic]
