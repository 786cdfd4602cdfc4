"""a nurse's display name and language: colleagues see a name, not an e-mail address,
and the console and its alerts speak the nurse's language

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nurse", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("display_name", sa.String(length=80), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("language", sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nurse", schema=None) as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("display_name")
