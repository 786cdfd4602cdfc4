import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from aftercare.dbtypes import UTCDateTime, utc_now

SEVERITY_RANK = {"amber": 1, "red": 2}


class Flag(SQLModel, table=True):
    """A check-in (or a silence) that needs a nurse: open, then acknowledged, then resolved."""

    __table_args__ = (
        # The queue: a clinic's open flags, red first, oldest first.
        Index("ix_flag_queue", "clinic_id", "status", "severity_rank", "created_at"),
        Index("ix_flag_patient", "patient_id", "status"),
        # One silence flag per silence, however many workers look for it.
        UniqueConstraint("patient_id", "silent_since", name="uq_flag_silence"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinic.id")
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    checkin_id: uuid.UUID | None = Field(
        default=None, foreign_key="checkin.id", unique=True, ondelete="CASCADE"
    )
    silent_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    severity: str = Field(max_length=5)
    severity_rank: int
    status: str = Field(default="open", max_length=12)
    # The evidence of each reason (code, answer, previous answer); the words
    # are rendered when read, in the reader's language.
    reasons: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: uuid.UUID | None = Field(default=None, foreign_key="nurse.id")
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: uuid.UUID | None = Field(default=None, foreign_key="nurse.id")
    resolution_note: str | None = Field(default=None, max_length=2000)
    # called-patient, replied-by-message, advised-to-come-in, sent-to-emergency or
    # no-action-needed.
    resolution_outcome: str | None = Field(default=None, max_length=30)
    # Alerts sent to the clinic's nurses while this red flag waited.
    escalations: int = 0


# The queue shows the most severe first: red is 0, amber 1 (an ascending key, so one
# index serves the whole order).
SEVERITY_ORDER = {"red": 0, "amber": 1}


class QueueCard(SQLModel, table=True):
    """One patient's place in the flag queue, kept with their waiting flags.

    The queue shows one card per patient: the most severe of their waiting flags,
    then the longest unacknowledged wait. Working that out from the flags at each
    page view means grouping every waiting flag of the clinic; this row, refreshed
    in the same transaction as any change to a patient's flags (flags.cards), is
    read through one index instead.
    """

    __tablename__ = "queue_card"
    __table_args__ = (
        Index("ix_queue_card_order", "clinic_id", "severity_order", "sort_at", "patient_id"),
        # The queue's counts, and the last change for its fingerprint: index lookups.
        Index("ix_queue_card_counts", "clinic_id", "severity_order", "unacknowledged"),
        Index("ix_queue_card_changed", "clinic_id", "updated_at"),
    )

    patient_id: uuid.UUID = Field(primary_key=True, foreign_key="patient.id", ondelete="CASCADE")
    clinic_id: uuid.UUID = Field(foreign_key="clinic.id")
    severity_order: int
    # Waiting flags not acknowledged yet, and all waiting flags (open or acknowledged).
    unacknowledged: int
    waiting: int
    # When the oldest unacknowledged flag was raised, else the oldest waiting one.
    sort_at: datetime = Field(sa_type=UTCDateTime)
    oldest_unacknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the card last changed: the live queue's fingerprint moves with it.
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
