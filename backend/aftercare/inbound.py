"""What the app accepts from outside: text a database can keep, numbers it can hold.

Every request body model derives from `Inbound`, so that a NUL byte or a lone
surrogate in any text field is a 422 naming that field, never a 500 from the
database (PostgreSQL refuses NUL in text; no database can store half a UTF-16
pair). Such characters never come from a keyboard.
"""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ValidationInfo, field_validator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# The largest offset or count a query may ask for: far beyond any real list, far
# below what a database integer holds.
MAX_OFFSET = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
# A row's number in a path: what every database's integer column holds (PostgreSQL's is
# 32 bits); beyond it the number names nothing and is a 422, never a database error.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

# Dates a person could mean: a surgery, a message, a check-in.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def storable(value: Any) -> Any:
    """Refuse what no database keeps as text, wherever it sits in the value."""
    if isinstance(value, str) and _UNSTORABLE.search(value):
        raise ValueError("contains a character that is not text (NUL or half a surrogate pair)")
    if isinstance(value, list | tuple):
        for item in value:
            storable(item)
    if isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    return value


def within_reason(moment: datetime) -> bool:
    """A moment a person could mean (and every database and time zone can hold)."""
    return EARLIEST <= moment <= LATEST


class Inbound(BaseModel):
    """A request body: each text field is checked, and an error names the field."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, _info: ValidationInfo) -> Any:
        return storable(value)


def _written_time(value: Any) -> Any:
    # A number is not a time a phone writes: 0 would be read as 1970.
    if isinstance(value, int | float):
        raise ValueError("must be an ISO 8601 time with its offset")
    return value


# A moment sent as ISO 8601 text with an offset (or a datetime, from a page's form).
WrittenTime = Annotated[AwareDatetime, BeforeValidator(_written_time)]
