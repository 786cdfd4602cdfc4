import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from aftercare.dbtypes import UTCDateTime, utc_now


class Reminder(SQLModel, table=True):
    """The outbox: one row per message to send, per channel.

    A dispatcher claims due rows (`claimed_until` is its lease), sends them and
    marks them; a dispatcher that dies leaves its rows to be claimed again once
    the lease has run out.
    """

    __table_args__ = (
        # The sweep reads only rows waiting to be sent: a partial index keeps
        # it as fast with a million future rows as with none.
        Index(
            "ix_reminder_pending_due",
            "due_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_reminder_patient", "patient_id", "status"),
        # A plan item reminds once per channel and moment, however often the
        # plan is rebuilt; a moved surgery gives its items new moments.
        UniqueConstraint(
            "patient_id", "item_key", "channel", "due_at", name="uq_reminder_item_channel"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    patient_id: uuid.UUID | None = Field(default=None, foreign_key="patient.id", ondelete="CASCADE")
    nurse_id: uuid.UUID | None = Field(default=None, foreign_key="nurse.id", ondelete="CASCADE")
    # plan-item, test, message, escalation
    purpose: str = Field(max_length=12)
    item_key: str | None = Field(default=None, max_length=100)
    item_kind: str | None = Field(default=None, max_length=20)
    item_day: int | None = None
    flag_id: uuid.UUID | None = Field(default=None, foreign_key="flag.id", ondelete="CASCADE")
    channel: str = Field(max_length=10)  # email, push, in-app
    due_at: datetime = Field(sa_type=UTCDateTime)
    # The plan the row was made from; a rebuilt plan makes older rows stale.
    plan_built_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default="pending", max_length=10)  # pending, sent, failed, skipped
    attempts: int = 0
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PushSubscription(SQLModel, table=True):
    """A browser's W3C PushSubscription, for a patient's phone or a nurse's browser."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: uuid.UUID | None = Field(
        default=None, foreign_key="patient.id", index=True, ondelete="CASCADE"
    )
    nurse_id: uuid.UUID | None = Field(
        default=None, foreign_key="nurse.id", index=True, ondelete="CASCADE"
    )
    endpoint: str = Field(unique=True, max_length=1000)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    # Set when the push service answers 404 or 410: the browser dropped it.
    retired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ServerKey(SQLModel, table=True):
    """Keys the server makes for itself on first start (the VAPID key pair)."""

    __tablename__ = "server_key"

    name: str = Field(primary_key=True, max_length=40)
    value: str
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
