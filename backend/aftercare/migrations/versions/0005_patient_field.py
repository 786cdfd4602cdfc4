"""the patient's phone in the field: the phone's own time of a check-in, when its answer was
seen, and which plan items are ticked by hand

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_recorded_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("answer_seen_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tickable", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    # Answers given before this version were seen on the phone when they were sent.
    op.execute("UPDATE checkin SET answer_seen_at = received_at")
    # Plans already frozen: what is read or done by checking in, and the shipped
    # "things to avoid" advice, were never tasks.
    op.execute(
        "UPDATE plan_item SET tickable = false WHERE kind IN ('education', 'milestone', 'check-in')"
        " OR source IN ('things-to-avoid', 'no-shower-today', 'soft-seats')"
    )


def downgrade() -> None:
    with op.batch_alter_table("plan_item", schema=None) as batch_op:
        batch_op.drop_column("tickable")
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.drop_column("answer_seen_at")
        batch_op.drop_column("phone_recorded_at")
