import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Column, Field, SQLModel

from aftercare.dbtypes import UTCDateTime


class CheckIn(SQLModel, table=True):
    """One symptom check-in. The id is the phone's, so a resent check-in is recognised."""

    __tablename__ = "checkin"
    __table_args__ = (
        Index("ix_checkin_patient_recorded", "patient_id", "recorded_at"),
        # The clinic report: was a due check-in day kept?
        Index("ix_checkin_patient_day", "patient_id", "day"),
    )

    id: uuid.UUID = Field(primary_key=True)
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    recorded_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
    # The phone's own time, kept when its clock was too far off to place the
    # check-in (then recorded_at is when the server received it).
    phone_recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the patient saw the answer; a check-in sent later from the phone's
    # queue is answered on Today until then.
    answer_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the clinic first saw it (a nurse acknowledged its flag or opened the patient's
    # page): the patient's phone says so, never who.
    clinic_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    day: int
    # The answers; None once the patient was anonymised (aftercare.privacy.retention).
    pain: int | None
    temperature_c: float | None = None
    bleeding: str | None = Field(max_length=10)
    discharge: str | None = Field(max_length=10)
    urination: str | None = Field(max_length=10)
    allergy: str | None = Field(max_length=10)
    nausea: bool | None
    wants_contact: bool | None
    note: str = Field(default="", max_length=2000)
    # The answer the patient was given, kept so that a resend gets the same one.
    severity: str = Field(max_length=5)
    reasons: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    advice: str
    body_digest: str = Field(max_length=64)
