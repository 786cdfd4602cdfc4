"""The thread as the API reads and writes it; the table's nurse and clinic stay inside."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from aftercare.i18n import _, gettext_for
from aftercare.inbound import Inbound

Sender = Literal["patient", "nurse"]
# Blank around the words is not part of the message: a body of spaces is empty.
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class MessageCreate(Inbound):
    """A nurse's message to a patient."""

    model_config = ConfigDict(extra="forbid")

    body: Body


class PatientMessageCreate(Inbound):
    """A patient's message; `id`, made on the phone, lets a reply sent twice be stored once."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None
    body: Body


class MessagePublic(BaseModel):
    """One message; `from` says which side wrote it, never which nurse."""

    model_config = ConfigDict(populate_by_name=True)

    id: uuid.UUID
    sender: Sender = Field(serialization_alias="from", validation_alias="from")
    body: str
    created_at: datetime
    read_at: datetime | None


class MessageList(BaseModel):
    items: list[MessagePublic]


TOO_LONG = _("Please keep your message to 2000 characters or fewer.")
EMPTY = _("Please write a message first.")


def body_problem(exc: ValidationError, language: str) -> str:
    """The body's error, in words for a person rather than the validator's."""
    too_long = any(error["type"] == "string_too_long" for error in exc.errors())
    return gettext_for(language).gettext(TOO_LONG if too_long else EMPTY)
