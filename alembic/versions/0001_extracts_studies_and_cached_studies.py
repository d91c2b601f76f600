"""extracts, studies and cached studies

Revision ID: 0001
Revises:
Create Date: 2026-11-23 14:27:17.627380
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cached_studies",
        sa.Column("study_uid", sa.String(length=128), nullable=False),
        sa.Column("n_instances", sa.Integer(), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("study_uid"),
    )
    op.create_table(
        "extracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_slug", sa.String(length=255), nullable=False),
        sa.Column("extract_datetime", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parquet_exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_slug", "extract_datetime"),
    )
    with op.batch_alter_table("extracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_extracts_project_slug"), ["project_slug"], unique=False
        )

    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("extract_id", sa.Integer(), nullable=False),
        sa.Column("mrn", sa.String(length=64), nullable=False),
        sa.Column("accession_number", sa.String(length=64), nullable=False),
        sa.Column("study_uid", sa.String(length=128), nullable=False),
        sa.Column("series_uids", sa.Text(), nullable=False),
        sa.Column("study_date", sa.Date(), nullable=True),
        sa.Column("procedure_occurrence_id", sa.String(length=64), nullable=False),
        sa.Column("participant_id", sa.String(length=128), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "QUEUED",
                "RETRIEVED",
                "ANONYMISED",
                "EXPORTED",
                "NOT_FOUND",
                "EXCLUDED",
                "FAILED",
                name="studystatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("found_in", sa.String(length=16), nullable=True),
        sa.Column("source_study_uids", sa.Text(), nullable=False),
        sa.Column("n_instances", sa.Integer(), nullable=True),
        sa.Column("pseudo_study_uid", sa.String(length=128), nullable=True),
        sa.Column("pseudo_patient_id", sa.String(length=128), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retrieved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("anonymised_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["extract_id"],
            ["extracts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("extract_id", "mrn", "accession_number", "study_uid"),
    )
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_studies_extract_id"), ["extract_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_studies_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_studies_status"))
        batch_op.drop_index(batch_op.f("ix_studies_extract_id"))

    op.drop_table("studies")
    with op.batch_alter_table("extracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extracts_project_slug"))

    op.drop_table("extracts")
    op.drop_table("cached_studies")
