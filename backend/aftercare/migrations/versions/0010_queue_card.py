"""queue cards: one row per patient with waiting flags, so that the queue shows one card
per patient, most severe first, then the longest unacknowledged wait, read through one
index; filled here from the flags already waiting

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "queue_card",
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("severity_order", sa.Integer(), nullable=False),
        sa.Column("unacknowledged", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("sort_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("oldest_unacknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    with op.batch_alter_table("queue_card", schema=None) as batch_op:
        batch_op.create_index(
            "ix_queue_card_order",
            ["clinic_id", "severity_order", "sort_at", "patient_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_queue_card_counts",
            ["clinic_id", "severity_order", "unacknowledged"],
            unique=False,
        )
        batch_op.create_index("ix_queue_card_changed", ["clinic_id", "updated_at"], unique=False)
    # Red (rank 2) is order 0, amber (rank 1) order 1.
    op.execute(
        "INSERT INTO queue_card (patient_id, clinic_id, severity_order, unacknowledged, "
        "waiting, sort_at, oldest_unacknowledged_at, updated_at) "
        "SELECT patient_id, clinic_id, 2 - MAX(severity_rank), "
        "SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), COUNT(*), "
        "COALESCE(MIN(CASE WHEN status = 'open' THEN created_at END), MIN(created_at)), "
        "MIN(CASE WHEN status = 'open' THEN created_at END), MAX(created_at) "
        "FROM flag WHERE status IN ('open', 'acknowledged') GROUP BY patient_id, clinic_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("queue_card", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_card_changed")
        batch_op.drop_index("ix_queue_card_counts")
        batch_op.drop_index("ix_queue_card_order")
    op.drop_table("queue_card")
