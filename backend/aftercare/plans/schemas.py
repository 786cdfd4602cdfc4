from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from aftercare.protocols.schema import ItemKind


class PlanItemPublic(BaseModel):
    id: str
    kind: ItemKind
    title: str
    detail: str | None
    time: str | None
    timing: Literal["at", "all-day", "as-needed"]
    due_at: datetime | None
    done: bool
    # False for what is read, celebrated or done by checking in: no Done button.
    tickable: bool = True
    # On the follow-up item, once the clinic has booked the visit (patient's zone).
    appointment_at: datetime | None = None
    appointment_place: str | None = None


class PlanDayPublic(BaseModel):
    day: int
    date: date
    items: list[PlanItemPublic]


class PlanPublic(BaseModel):
    protocol: str
    protocol_version: int
    timezone: str
    language: str
    days: list[PlanDayPublic]
