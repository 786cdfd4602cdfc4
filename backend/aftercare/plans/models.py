import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

from aftercare.dbtypes import UTCDateTime


class PlanItem(SQLModel, table=True):
    """One item of a patient's frozen plan, with its texts in every language of the file."""

    __tablename__ = "plan_item"
    __table_args__ = (
        UniqueConstraint("patient_id", "key"),
        # The clinic report: check-ins due by date, without reading every plan.
        Index("ix_plan_item_kind_date", "kind", "date", "patient_id", "day"),
        # Today: one day of one patient's plan in order, and their next check-in; read
        # through the patient's own rows, never through every patient's check-ins.
        Index("ix_plan_item_patient_day", "patient_id", "day", "position"),
        Index("ix_plan_item_patient_kind_due", "patient_id", "kind", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The unique (patient_id, key) constraint is also the index for a patient's plan.
    patient_id: uuid.UUID = Field(foreign_key="patient.id", ondelete="CASCADE")
    key: str = Field(max_length=100)
    day: int
    date: date
    position: int
    kind: str = Field(max_length=20)
    timing: str = Field(max_length=10)
    local_time: str | None = Field(default=None, max_length=5)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminder: bool = False
    source: str = Field(max_length=60)
    title: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    detail: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    tickable: bool = True
