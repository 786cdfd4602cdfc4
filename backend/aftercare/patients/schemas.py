import re
import uuid
from datetime import datetime, time
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import AwareDatetime, BaseModel, EmailStr, Field, field_validator, model_validator

from aftercare.inbound import Inbound, within_reason
from aftercare.protocols.schema import parse_clock, parse_days, parse_times, wake_window_problem

Language = Literal["en", "fr", "ar", "tr"]


@lru_cache(maxsize=1)
def known_time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(value: str) -> str:
    if value not in known_time_zones():
        raise ValueError(f"'{value}' is not an IANA time zone, like Europe/Paris")
    return value


def check_surgery_at(value: datetime | None) -> datetime | None:
    if value is not None and not within_reason(value):
        raise ValueError("the surgery date must be between the years 2000 and 2100")
    return value


PHONE_CHARACTERS = re.compile(r"\+?[0-9 ().-]+")


def check_phone(value: str | None) -> str | None:
    """A phone number as people write it (+33 6 12 34 56 78, 0612-345678): kept as
    written, its spaces tidied; 6 to 15 digits (E.164's most); empty means none."""
    if value is None:
        return None
    value = " ".join(value.split())
    if not value:
        return None
    digits = sum(character.isdigit() for character in value)
    if not PHONE_CHARACTERS.fullmatch(value) or not 6 <= digits <= 15:
        raise ValueError("is not a phone number: digits, spaces, + ( ) . - and 6 to 15 digits")
    return value


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


class Contact(Inbound):
    """How the clinic may reach the patient outside the app (api.md): shown only in
    the console, never in a notification. Without a number, the rest is reset."""

    phone: Annotated[str, Field(max_length=32)] | None = None
    phone_safe_to_call: bool | None = None
    phone_leave_message: bool | None = None
    phone_best_time: Annotated[str, Field(max_length=80)] | None = None

    _phone = field_validator("phone")(check_phone)

    @field_validator("phone_best_time")
    @classmethod
    def _best_time(cls, value: str | None) -> str | None:
        return " ".join(value.split()) or None if value is not None else None


CONTACT_FIELDS = ("phone", "phone_safe_to_call", "phone_leave_message", "phone_best_time")


class ContactPublic(BaseModel):
    phone: str | None = None
    phone_safe_to_call: bool = False
    phone_leave_message: bool = False
    phone_best_time: str | None = None


class Followup(Inbound):
    """The follow-up visit a nurse books (api.md): `followup_at` null cancels it, and
    takes the place with it. Shown to the patient only inside the app."""

    followup_at: AwareDatetime | None = None
    followup_place: Annotated[str, Field(max_length=120)] | None = None

    @field_validator("followup_at")
    @classmethod
    def _when(cls, value: datetime | None) -> datetime | None:
        if value is not None and not within_reason(value):
            raise ValueError("the appointment date must be between the years 2000 and 2100")
        return value

    @field_validator("followup_place")
    @classmethod
    def _place(cls, value: str | None) -> str | None:
        return " ".join(value.split()) or None if value is not None else None


FOLLOWUP_FIELDS = ("followup_at", "followup_place")


class FollowupPublic(BaseModel):
    followup_at: datetime | None = Field(
        default=None, description="The follow-up visit, in the patient's zone; null if none"
    )
    followup_place: str | None = None


class PatientCreate(Contact):
    alias: Annotated[str, Field(min_length=1, max_length=40)]
    protocol: Annotated[str, Field(min_length=1, max_length=60)]
    surgery_at: AwareDatetime
    timezone: str
    language: Language
    wake_time: time | None = None
    sleep_time: time | None = None
    email: EmailStr | None = None
    prescribed: list[PrescribedCreate] = Field(default_factory=list, max_length=20)

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the alias is empty")
        return value

    _zone = field_validator("timezone")(check_time_zone)
    _surgery = field_validator("surgery_at")(check_surgery_at)

    @field_validator("wake_time", "sleep_time", mode="before")
    @classmethod
    def _clock(cls, value: object) -> time | None:
        return None if value is None else parse_clock(value)

    @model_validator(mode="after")
    def _window(self) -> "PatientCreate":
        if self.wake_time and self.sleep_time:
            problem = wake_window_problem(self.wake_time, self.sleep_time)
            if problem:
                raise ValueError(problem)
        return self


class EnrollmentPublic(BaseModel):
    id: uuid.UUID
    enrollment_code: str
    enrollment_url: str
    # The same link as a QR code (SVG) to show on a screen or print.
    enrollment_qr_url: str
    expires_at: datetime


class PatientPublic(ContactPublic, FollowupPublic):
    id: uuid.UUID
    alias: str
    protocol: str
    protocol_version: int
    surgery_at: datetime
    timezone: str
    language: str
    wake_time: str
    sleep_time: str
    email: str | None
    day: int | None = Field(description="Recovery day today (1 = surgery day); null before it")
    days: int
    enrolled: bool
    created_at: datetime
    checkin_count: int
    open_flag_count: int = Field(description="Flags not yet resolved (open or acknowledged)")


class PatientList(BaseModel):
    items: list[PatientPublic]


class EnrollRequest(Inbound):
    code: Annotated[str, Field(min_length=1, max_length=40)]


class EnrollTokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    patient_id: uuid.UUID


class PatientUpdate(Contact, Followup):
    """What a nurse may change after enrolment; the plan is rebuilt from the surgery
    and hours, not from the contact details or the follow-up visit."""

    surgery_at: AwareDatetime | None = None
    timezone: str | None = None
    wake_time: time | None = None
    sleep_time: time | None = None

    _surgery = field_validator("surgery_at")(check_surgery_at)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)

    @field_validator("wake_time", "sleep_time", mode="before")
    @classmethod
    def _clock(cls, value: object) -> time | None:
        return None if value is None else parse_clock(value)
