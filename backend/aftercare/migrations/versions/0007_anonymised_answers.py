"""anonymised answers: a check-in's answers may be gone (the patient was anonymised after
the clinic's retention time), its day, time and severity kept for the report

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ANSWERS: list[tuple[str, sa.types.TypeEngine[Any], str]] = [
    ("pain", sa.Integer(), "0"),
    ("bleeding", sa.String(length=10), "'none'"),
    ("discharge", sa.String(length=10), "'none'"),
    ("urination", sa.String(length=10), "'normal'"),
    ("allergy", sa.String(length=10), "'none'"),
    ("nausea", sa.Boolean(), "false"),
    ("wants_contact", sa.Boolean(), "false"),
]


def upgrade() -> None:
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        for name, kind, _neutral in ANSWERS:
            batch_op.alter_column(name, existing_type=kind, nullable=True)


def downgrade() -> None:
    # The answers that were removed cannot come back: a neutral value takes their place.
    for name, _kind, neutral in ANSWERS:
        # Names and values are this file's constants, never input.
        op.execute(f"UPDATE checkin SET {name} = {neutral} WHERE {name} IS NULL")  # noqa: S608
    with op.batch_alter_table("checkin", schema=None) as batch_op:
        for name, kind, _neutral in ANSWERS:
            batch_op.alter_column(name, existing_type=kind, nullable=False)
