"""Today's reads through the patient's own plan rows: one day in order, and the next
check-in (before, the next check-in was looked up through every patient's check-ins)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_plan_item_patient_day", "plan_item", ["patient_id", "day", "position"])
    op.create_index("ix_plan_item_patient_kind_due", "plan_item", ["patient_id", "kind", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_plan_item_patient_kind_due", table_name="plan_item")
    op.drop_index("ix_plan_item_patient_day", table_name="plan_item")
