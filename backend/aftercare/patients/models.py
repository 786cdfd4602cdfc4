import secrets
import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, Index, text
from sqlmodel import Column, Field, SQLModel

from aftercare.dbtypes import UTCDateTime, utc_now


class Patient(SQLModel, table=True):
    # The console's patient list: a clinic's patients, newest surgery first.
    __table_args__ = (
        Index("ix_patient_clinic_surgery", "clinic_id", "surgery_at"),
        # The retention job reads only patients not anonymised yet: it stays cheap
        # however many the clinic has anonymised over the years.
        Index(
            "ix_patient_not_anonymised",
            "surgery_at",
            postgresql_where=text("anonymised_at IS NULL"),
            sqlite_where=text("anonymised_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinic.id", index=True)
    # An alias (initials), never a full name: see product.md, Discretion.
    alias: str = Field(max_length=40)
    protocol_id: str = Field(max_length=60)
    surgery_at: datetime = Field(sa_type=UTCDateTime)
    timezone: str = Field(max_length=64)
    language: str = Field(max_length=8)
    wake_time: time
    sleep_time: time
    email: str | None = Field(default=None, max_length=254)
    # How the clinic may reach the patient outside the app (console only, never in a
    # notification): a number, whether a call is safe and a message may be left
    # (never assumed: a call may be what puts a patient in danger), and when.
    phone: str | None = Field(default=None, max_length=32)
    phone_safe_to_call: bool = False
    phone_leave_message: bool = False
    phone_best_time: str | None = Field(default=None, max_length=80)
    # The follow-up visit the clinic booked (UTC) and where; shown only inside the app,
    # reminded the day before and put in the calendar feed in neutral words.
    followup_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    followup_place: str | None = Field(default=None, max_length=120)
    # How the patient wants reminders: any of in-app, push, email, calendar.
    channels: list[str] = Field(
        default_factory=lambda: ["in-app"], sa_column=Column(JSON, nullable=False)
    )
    # The secret in the private calendar feed's URL.
    calendar_token: str = Field(
        default_factory=lambda: secrets.token_urlsafe(24), unique=True, index=True, max_length=64
    )
    # Items the clinic prescribed at enrolment, kept to rebuild the plan.
    prescribed: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The plan is frozen at enrolment: which file version it was built from.
    protocol_version: int
    plan_days: int
    protocol_digest: str = Field(max_length=64)
    # End of the days with a daily check-in (UTC), when silence raises a flag.
    checkin_daily_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    plan_built_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when the retention job removed the alias, contact details and words;
    # what the clinic report counts is kept.
    anonymised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class EnrollmentCode(SQLModel, table=True):
    """A one-time code handed to the patient; only its hash is stored."""

    __tablename__ = "enrollment_code"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", index=True, ondelete="CASCADE")
    code_hash: str = Field(unique=True, index=True, max_length=64)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
