"""clinics, nurses, patients, enrolment codes, tokens and frozen plans

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auth_failure", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_failure_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "clinic",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("emergency_number", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("app_name", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinic_slug"), ["slug"], unique=True)

    op.create_table(
        "nurse",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("nurse", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nurse_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_nurse_email"), ["email"], unique=True)

    op.create_table(
        "patient",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("alias", sa.String(length=40), nullable=False),
        sa.Column("protocol_id", sa.String(length=60), nullable=False),
        sa.Column("surgery_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("wake_time", sa.Time(), nullable=False),
        sa.Column("sleep_time", sa.Time(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("prescribed", sa.JSON(), nullable=False),
        sa.Column("protocol_version", sa.Integer(), nullable=False),
        sa.Column("plan_days", sa.Integer(), nullable=False),
        sa.Column("protocol_digest", sa.String(length=64), nullable=False),
        sa.Column("plan_built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_clinic_id"), ["clinic_id"], unique=False)

    op.create_table(
        "access_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("nurse_id", sa.Uuid(), nullable=True),
        sa.Column("patient_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["nurse_id"], ["nurse.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_token_nurse_id"), ["nurse_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_token_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_token_token_hash"), ["token_hash"], unique=True)

    op.create_table(
        "enrollment_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("enrollment_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enrollment_code_code_hash"), ["code_hash"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_enrollment_code_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "plan_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("timing", sa.String(length=10), nullable=False),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "key"),
    )


def downgrade() -> None:
    op.drop_table("plan_item")
    with op.batch_alter_table("enrollment_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enrollment_code_patient_id"))
        batch_op.drop_index(batch_op.f("ix_enrollment_code_code_hash"))

    op.drop_table("enrollment_code")
    with op.batch_alter_table("access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_token_token_hash"))
        batch_op.drop_index(batch_op.f("ix_access_token_patient_id"))
        batch_op.drop_index(batch_op.f("ix_access_token_nurse_id"))

    op.drop_table("access_token")
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_clinic_id"))

    op.drop_table("patient")
    with op.batch_alter_table("nurse", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nurse_email"))
        batch_op.drop_index(batch_op.f("ix_nurse_clinic_id"))

    op.drop_table("nurse")
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_slug"))

    op.drop_table("clinic")
    with op.batch_alter_table("auth_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_failure_created_at"))

    op.drop_table("auth_failure")
