import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import func
from sqlmodel import Field, SQLModel

from aftercare.dbtypes import UTCDateTime, utc_now

# Until a clinic sets its own, red advice names 112, the international
# mobile emergency number (clinical.md).
DEFAULT_EMERGENCY_NUMBER = "112"


class Clinic(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=60)
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    emergency_number: str = Field(default=DEFAULT_EMERGENCY_NUMBER, max_length=20)
    timezone: str = Field(default="UTC", max_length=64)
    # The neutral name shown on patients' phones (home screen, notifications).
    app_name: str = Field(default="Care", max_length=40)
    # Minutes a red flag may wait for acknowledgement before nurses are alerted.
    ack_target_minutes: int = 15
    # When nurses work (the clinic's own time zone): "within the working day".
    work_start: time = Field(default=time(8, 0))
    work_end: time = Field(default=time(18, 0))
    # A console left alone this long signs itself out.
    session_timeout_minutes: int = 15
    # Days after a patient's plan ends before the retention job anonymises them.
    retention_days: int = 90
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Nurse(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinic.id", index=True)
    email: str = Field(unique=True, index=True, max_length=254)
    password_hash: str = Field(max_length=200)
    is_admin: bool = False
    is_active: bool = True
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    # How colleagues see this nurse across the console (the e-mail address until set).
    display_name: str = Field(default="", max_length=80)
    # The console's language and the alerts'; None: the browser's.
    language: str | None = Field(default=None, max_length=5)

    @property
    def shown_name(self) -> str:
        return self.display_name or self.email


def shown_name(nurse: Any) -> Any:
    """A nurse (the class or an alias of it) as colleagues see them, as a SQL expression:
    the display name, else the e-mail address."""
    return func.coalesce(func.nullif(nurse.display_name, ""), nurse.email)


class AccessToken(SQLModel, table=True):
    """A bearer token of a nurse or a patient's device; only its hash is stored."""

    __tablename__ = "access_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, index=True, max_length=64)
    nurse_id: uuid.UUID | None = Field(
        default=None, foreign_key="nurse.id", index=True, ondelete="CASCADE"
    )
    patient_id: uuid.UUID | None = Field(
        default=None, foreign_key="patient.id", index=True, ondelete="CASCADE"
    )
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "api" (bearer), "device" (a patient's phone) or "console" (a nurse's browser,
    # which signs out after the clinic's inactivity timeout, counted from last_used_at).
    kind: str = Field(default="api", max_length=10)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthFailure(SQLModel, table=True):
    """A failed sign-in or enrolment attempt, counted per client to answer 429.

    Kept in the database so that several app processes count together.
    """

    __tablename__ = "auth_failure"

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=20)
    client: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime, index=True)
