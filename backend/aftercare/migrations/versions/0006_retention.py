"""retention: how long a clinic keeps a patient's words after the plan ends, and when a patient
was anonymised

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retention_days", sa.Integer(), nullable=False, server_default="90")
        )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_patient_not_anonymised",
            ["surgery_at"],
            unique=False,
            postgresql_where=sa.text("anonymised_at IS NULL"),
            sqlite_where=sa.text("anonymised_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_patient_not_anonymised",
            postgresql_where=sa.text("anonymised_at IS NULL"),
            sqlite_where=sa.text("anonymised_at IS NULL"),
        )
        batch_op.drop_column("anonymised_at")
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("retention_days")
