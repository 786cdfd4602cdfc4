"""nurse console: clinic hours and timeout, console sessions, flag outcomes, audit client, messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("work_start", sa.Time(), nullable=False, server_default=sa.text("'08:00:00'"))
        )
        batch_op.add_column(
            sa.Column("work_end", sa.Time(), nullable=False, server_default=sa.text("'18:00:00'"))
        )
        batch_op.add_column(
            sa.Column("session_timeout_minutes", sa.Integer(), nullable=False, server_default="15")
        )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), nullable=False, server_default="api")
        )
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # Phones already signed in are devices.
    op.execute("UPDATE access_token SET kind = 'device' WHERE patient_id IS NOT NULL")
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolution_outcome", sa.String(length=30), nullable=True))
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(length=100), nullable=True))
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index("ix_patient_clinic_surgery", ["clinic_id", "surgery_at"])
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.create_index("ix_plan_item_kind_date", ["kind", "date", "patient_id", "day"])
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.create_index("ix_checkin_patient_day", ["patient_id", "day"])
    op.create_table(
        "message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("sender", sa.String(length=7), nullable=False),
        sa.Column("nurse_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["clinic_id"], ["clinic.id"]),
        sa.ForeignKeyConstraint(["nurse_id"], ["nurse.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_thread", ["patient_id", "created_at"], unique=False)
        batch_op.create_index("ix_message_unread", ["clinic_id", "sender", "read_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_unread")
        batch_op.drop_index("ix_message_thread")
    op.drop_table("message")
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.drop_index("ix_checkin_patient_day")
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_item_kind_date")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_clinic_surgery")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("client")
    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.drop_column("resolution_outcome")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("kind")
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("session_timeout_minutes")
        batch_op.drop_column("work_end")
        batch_op.drop_column("work_start")
