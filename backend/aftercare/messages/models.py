import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from aftercare.dbtypes import UTCDateTime, utc_now


class Message(SQLModel, table=True):
    """One message of the private thread between a patient and their clinic's nurses."""

    __table_args__ = (
        Index("ix_message_thread", "patient_id", "created_at"),
        # Unread counts: a clinic's messages from patients not yet read.
        Index("ix_message_unread", "clinic_id", "sender", "read_at"),
    )

    # The patient's phone makes the id, so a reply queued offline is stored once.
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinic.id")
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    sender: str = Field(max_length=7)  # patient or nurse
    nurse_id: uuid.UUID | None = Field(default=None, foreign_key="nurse.id", ondelete="SET NULL")
    body: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
