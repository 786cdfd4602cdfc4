import uuid
from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, EmailStr, Field, HttpUrl, field_validator

from aftercare.i18n import _
from aftercare.inbound import Inbound
from aftercare.patients.schemas import Contact, ContactPublic, Language
from aftercare.protocols.schema import parse_clock

ChannelName = Literal["in-app", "push", "email", "calendar"]


class MeUpdate(Contact):
    """What a patient may change about themselves (api.md: PATCH /api/v1/me)."""

    email: EmailStr | None = None
    channels: Annotated[list[ChannelName], Field(max_length=4)] | None = None
    language: Language | None = None
    # Waking hours, "HH:MM"; the window itself is checked against the other end in the service.
    wake_time: time | None = None
    sleep_time: time | None = None

    @field_validator("wake_time", "sleep_time", mode="before")
    @classmethod
    def _clock(cls, value: object) -> time | None:
        return None if value is None else parse_clock(value)


class MePublic(ContactPublic):
    email: str | None
    channels: list[str]
    language: str


class PushKeys(Inbound):
    p256dh: Annotated[str, Field(min_length=20, max_length=200, pattern=r"^[A-Za-z0-9_\-=]+$")]
    auth: Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_\-=]+$")]


# The stored column's length; push services' endpoints are a few hundred characters.
MAX_ENDPOINT_LENGTH = 1000


class PushSubscriptionCreate(Inbound):
    """A W3C PushSubscription, as `JSON.stringify(subscription)` gives it.

    Whether the server may send to the endpoint needs the settings and a DNS
    lookup: `endpoint_check.require_public_endpoint` decides that after sign-in.
    """

    endpoint: HttpUrl
    keys: PushKeys
    expirationTime: Annotated[float, Field(strict=True)] | None = None

    @field_validator("endpoint")
    @classmethod
    def _fits(cls, value: HttpUrl) -> HttpUrl:
        # Checked on the URL as stored (normalised, the host in punycode), not as sent.
        if len(str(value)) > MAX_ENDPOINT_LENGTH:
            raise ValueError(_("is too long"))
        return value


class PushKeyPublic(BaseModel):
    public_key: str


class CalendarPublic(BaseModel):
    url: str


class InAppReminder(BaseModel):
    id: int
    title: str
    item_id: str | None
    due_at: datetime


class InAppReminderList(BaseModel):
    items: list[InAppReminder]


class Accepted(BaseModel):
    status: Literal["queued"] = "queued"
    channels: list[str]
    patient_id: uuid.UUID | None = None
