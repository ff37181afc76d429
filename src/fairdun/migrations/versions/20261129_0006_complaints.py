"""complaints: public reports with evidence, the case timeline, near-duplicate bands and
the per-address intake marks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaint_intake_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_intake_marks")),
    )
    with op.batch_alter_table("complaint_intake_marks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_intake_marks_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            "ix_complaint_intake_marks_requester", ["requester_hash", "created_at"], unique=False
        )

    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tracking_code", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reporter_kind", sa.String(length=30), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("reporter_name", sa.String(length=1024), nullable=True),
        sa.Column("reporter_phone", sa.String(length=1024), nullable=True),
        sa.Column("consent_share_identity", sa.Boolean(), nullable=False),
        sa.Column("share_evidence", sa.Boolean(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("institution_text", sa.String(length=200), nullable=False),
        sa.Column("categories", sa.String(length=300), nullable=False),
        sa.Column("suggested_categories", sa.String(length=300), nullable=False),
        sa.Column("incident_date", sa.Date(), nullable=True),
        sa.Column("caller_numbers", sa.String(length=2048), nullable=True),
        sa.Column("message_text", sa.String(length=10000), nullable=True),
        sa.Column("narrative", sa.String(length=24000), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("loan_id", sa.Integer(), nullable=True),
        sa.Column("collection_hold", sa.Boolean(), nullable=False),
        sa.Column("complexity", sa.String(length=10), nullable=False),
        sa.Column("extension_approved_by", sa.String(length=100), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_outcome", sa.String(length=20), nullable=True),
        sa.Column("response_text", sa.String(length=20000), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_soon_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_complaints_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_complaints_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("tracking_code", name=op.f("uq_complaints_tracking_code")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaints_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_complaints_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_complaints_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaints_status"), ["status"], unique=False)

    op.create_table(
        "complaint_bands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_bands_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_bands")),
    )
    with op.batch_alter_table("complaint_bands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_bands_band"), ["band"], unique=False)

    op.create_table(
        "complaint_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("party", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("audience", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=20000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_events_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_events")),
    )
    with op.batch_alter_table("complaint_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_events_complaint_id"), ["complaint_id"], unique=False
        )

    op.create_table(
        "complaint_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=False),
        sa.Column("storage_name", sa.String(length=32), nullable=False),
        sa.Column("original_name", sa.String(length=1024), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("metadata_stripped", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["complaint_id"],
            ["complaints.id"],
            name=op.f("fk_complaint_evidence_complaint_id_complaints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_evidence")),
        sa.UniqueConstraint("storage_name", name=op.f("uq_complaint_evidence_storage_name")),
    )
    with op.batch_alter_table("complaint_evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_evidence_complaint_id"), ["complaint_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_evidence_complaint_id"))

    op.drop_table("complaint_evidence")
    with op.batch_alter_table("complaint_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_events_complaint_id"))

    op.drop_table("complaint_events")
    with op.batch_alter_table("complaint_bands", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_bands_band"))

    op.drop_table("complaint_bands")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaints_status"))
        batch_op.drop_index(batch_op.f("ix_complaints_loan_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_institution_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_group_id"))
        batch_op.drop_index(batch_op.f("ix_complaints_due_at"))

    op.drop_table("complaints")
    with op.batch_alter_table("complaint_intake_marks", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_intake_marks_requester")
        batch_op.drop_index(batch_op.f("ix_complaint_intake_marks_created_at"))

    op.drop_table("complaint_intake_marks")
