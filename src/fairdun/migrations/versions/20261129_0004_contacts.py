"""contacts: parties, contact points, the contact log, gate decisions, the third-party
shield, the outbox, and each institution's policy pack

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shield_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=36), nullable=False),
        sa.Column("number_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("requester_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shield_verifications")),
        sa.UniqueConstraint("token", name=op.f("uq_shield_verifications_token")),
    )
    with op.batch_alter_table("shield_verifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shield_verifications_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_shield_verifications_number_hash"), ["number_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_shield_verifications_requester_hash"), ["requester_hash"], unique=False
        )

    op.create_table(
        "shielded_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number_hash", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shielded_numbers")),
        sa.UniqueConstraint("number_hash", name=op.f("uq_shielded_numbers_number_hash")),
    )
    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=1024), nullable=False),
        sa.Column("body", sa.String(length=4096), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_outbox_messages_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_messages_status"), ["status"], unique=False)

    op.create_table(
        "contact_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("collector_institution_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("rules", sa.String(length=500), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("earliest_lawful_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("reservation", sa.String(length=36), nullable=True),
        sa.Column("pack", sa.String(length=40), nullable=False),
        sa.Column("pack_version", sa.String(length=60), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collector_institution_id"],
            ["institutions.id"],
            name=op.f("fk_contact_decisions_collector_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_contact_decisions_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_contact_decisions_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_decisions")),
    )
    with op.batch_alter_table("contact_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_decisions_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contact_decisions_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "contact_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("debtor_loan_id", sa.Integer(), nullable=True),
        sa.Column("borrower_id", sa.Integer(), nullable=True),
        sa.Column("contract_reference", sa.String(length=100), nullable=True),
        sa.Column("lawful_basis", sa.String(length=20), nullable=True),
        sa.Column("basis_date", sa.Date(), nullable=True),
        sa.Column("designated_by", sa.String(length=20), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_contact_parties_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_contact_parties_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_contact_parties_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_parties")),
        sa.UniqueConstraint("debtor_loan_id", name=op.f("uq_contact_parties_debtor_loan_id")),
    )
    with op.batch_alter_table("contact_parties", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_parties_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contact_parties_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "contact_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("value_index", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_contact_points_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["contact_parties.id"],
            name=op.f("fk_contact_points_party_id_contact_parties"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_points")),
    )
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_points_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_contact_points_party_id"), ["party_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contact_points_value_index"), ["value_index"], unique=False
        )

    op.create_table(
        "contact_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reservation", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("collector_institution_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("address_index", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("staff_count", sa.Integer(), nullable=True),
        sa.Column("content", sa.String(length=20), nullable=False),
        sa.Column("applies_to", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("pack", sa.String(length=40), nullable=False),
        sa.Column("pack_version", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_contact_events_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(
            ["collector_institution_id"],
            ["institutions.id"],
            name=op.f("fk_contact_events_collector_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_contact_events_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_contact_events_loan_id_loans")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["contact_parties.id"],
            name=op.f("fk_contact_events_party_id_contact_parties"),
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["contact_points.id"],
            name=op.f("fk_contact_events_point_id_contact_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_events")),
        sa.UniqueConstraint("reservation", name=op.f("uq_contact_events_reservation")),
    )
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_events_institution_address",
            ["institution_id", "address_index"],
            unique=False,
        )
        batch_op.create_index(
            "ix_contact_events_institution_borrower",
            ["institution_id", "borrower_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_contact_events_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_contact_events_occurred_at"), ["occurred_at"], unique=False
        )

    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("policy_pack", sa.String(length=40), server_default="cn", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("policy_pack")

    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_events_occurred_at"))
        batch_op.drop_index(batch_op.f("ix_contact_events_loan_id"))
        batch_op.drop_index("ix_contact_events_institution_borrower")
        batch_op.drop_index("ix_contact_events_institution_address")

    op.drop_table("contact_events")
    with op.batch_alter_table("contact_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_points_value_index"))
        batch_op.drop_index(batch_op.f("ix_contact_points_party_id"))
        batch_op.drop_index(batch_op.f("ix_contact_points_institution_id"))

    op.drop_table("contact_points")
    with op.batch_alter_table("contact_parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_parties_loan_id"))
        batch_op.drop_index(batch_op.f("ix_contact_parties_institution_id"))

    op.drop_table("contact_parties")
    with op.batch_alter_table("contact_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_decisions_loan_id"))
        batch_op.drop_index(batch_op.f("ix_contact_decisions_institution_id"))

    op.drop_table("contact_decisions")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_messages_institution_id"))

    op.drop_table("outbox_messages")
    op.drop_table("shielded_numbers")
    with op.batch_alter_table("shield_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shield_verifications_requester_hash"))
        batch_op.drop_index(batch_op.f("ix_shield_verifications_number_hash"))
        batch_op.drop_index(batch_op.f("ix_shield_verifications_created_at"))

    op.drop_table("shield_verifications")
