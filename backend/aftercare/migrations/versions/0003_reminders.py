"""reminders outbox, push subscriptions, server keys, channels

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "server_key",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "push_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("nurse_id", sa.Uuid(), nullable=True),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["nurse_id"], ["nurse.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("endpoint"),
    )
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_push_subscription_nurse_id"), ["nurse_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_push_subscription_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("nurse_id", sa.Uuid(), nullable=True),
        sa.Column("purpose", sa.String(length=12), nullable=False),
        sa.Column("item_key", sa.String(length=100), nullable=True),
        sa.Column("item_kind", sa.String(length=20), nullable=True),
        sa.Column("item_day", sa.Integer(), nullable=True),
        sa.Column("flag_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("plan_built_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["flag_id"], ["flag.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["nurse_id"], ["nurse.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "patient_id", "item_key", "channel", "due_at", name="uq_reminder_item_channel"
        ),
    )
    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.create_index("ix_reminder_patient", ["patient_id", "status"], unique=False)
        batch_op.create_index(
            "ix_reminder_pending_due",
            ["due_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ack_target_minutes", sa.Integer(), nullable=False, server_default="15")
        )

    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("escalations", sa.Integer(), nullable=False, server_default="0")
        )

    # Patients enrolled before reminders get the in-app channel and a calendar secret each.
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channels", sa.JSON(), nullable=False, server_default='["in-app"]')
        )
        batch_op.add_column(sa.Column("calendar_token", sa.String(length=64), nullable=True))
    connection = op.get_bind()
    patients = sa.table("patient", sa.column("id", sa.Uuid()), sa.column("calendar_token"))
    for (patient_id,) in connection.execute(sa.select(patients.c.id)).all():
        connection.execute(
            patients.update()
            .where(patients.c.id == patient_id)
            .values(calendar_token=secrets.token_urlsafe(24))
        )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.alter_column("calendar_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_patient_calendar_token", ["calendar_token"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_calendar_token")
        batch_op.drop_column("calendar_token")
        batch_op.drop_column("channels")

    with op.batch_alter_table("flag", schema=None) as batch_op:
        batch_op.drop_column("escalations")

    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("ack_target_minutes")

    with op.batch_alter_table("reminder", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_reminder_pending_due",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_reminder_patient")

    op.drop_table("reminder")
    with op.batch_alter_table("push_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_push_subscription_patient_id"))
        batch_op.drop_index(batch_op.f("ix_push_subscription_nurse_id"))

    op.drop_table("push_subscription")
    op.drop_table("server_key")
