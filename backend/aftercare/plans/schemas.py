from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from aftercare.inbound import Inbound
from aftercare.protocols.schema import ItemKind, parse_days, parse_times


class PrescribedCreate(Inbound):
    """An item the clinic prescribes, e.g. an antibiotic twice a day for 5 days."""

    title: Annotated[str, Field(min_length=1, max_length=200)]
    detail: Annotated[str, Field(max_length=1000)] | None = None
    days: Annotated[Any, Field(examples=["1-5", [1, 2, 3]])]
    time: Annotated[Any, Field(examples=[["08:00", "20:00"], "as-needed"])]
    reminder: bool = True

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> tuple[int, ...]:
        days = parse_days(value)
        if days == "all":
            raise ValueError("name the days, like 1-5")
        if days[0] < 1:
            raise ValueError("days start at Day 1")
        return days

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        parsed = parse_times(value)
        return parsed if isinstance(parsed, str) else [at.strftime("%H:%M") for at in parsed]


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
