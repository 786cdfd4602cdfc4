"""how the clinic may reach a patient outside the app: an optional phone number,
whether it is safe to call, whether a message may be left, and the best time

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        # Never assumed: a call may be what puts a patient in danger.
        batch_op.add_column(
            sa.Column("phone_safe_to_call", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "phone_leave_message", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("phone_best_time", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_column("phone_best_time")
        batch_op.drop_column("phone_leave_message")
        batch_op.drop_column("phone_safe_to_call")
        batch_op.drop_column("phone")
