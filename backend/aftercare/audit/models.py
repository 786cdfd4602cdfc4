import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index
from sqlmodel import Column, Field, SQLModel

from aftercare.dbtypes import UTCDateTime


class AuditEvent(SQLModel, table=True):
    """Who did what, to what, when: every change (and, later, every view of a record)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_clinic_at", "clinic_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    clinic_id: uuid.UUID | None = Field(default=None, foreign_key="clinic.id")
    actor: str = Field(max_length=10)  # nurse, patient or system
    actor_id: uuid.UUID | None = None
    action: str = Field(max_length=40)
    subject: str = Field(max_length=20)
    subject_id: str = Field(max_length=64)
    # From where: the client's address as the server saw it (behind a proxy, its header).
    client: str | None = Field(default=None, max_length=100)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
