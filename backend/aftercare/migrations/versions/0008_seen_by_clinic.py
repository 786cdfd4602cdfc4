"""seen by the clinic: when a nurse first saw a check-in (acknowledged its flag or opened
the patient's page), so the patient's phone can say "Seen by your clinic at 14:20"

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clinic_seen_at", sa.DateTime(timezone=True), nullable=True))
    # A check-in whose flag was already acknowledged was seen then.
    op.execute(
        "UPDATE checkin SET clinic_seen_at = ("
        "SELECT flag.acknowledged_at FROM flag WHERE flag.checkin_id = checkin.id) "
        "WHERE clinic_seen_at IS NULL AND EXISTS ("
        "SELECT 1 FROM flag WHERE flag.checkin_id = checkin.id "
        "AND flag.acknowledged_at IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        batch_op.drop_column("clinic_seen_at")
