"""risk: promises, scores, lists, appeals, credit lines and decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credit_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("rules_id", sa.String(length=100), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("old_limit", sa.BigInteger(), nullable=False),
        sa.Column("new_limit", sa.BigInteger(), nullable=False),
        sa.Column("old_rate", sa.String(length=40), nullable=False),
        sa.Column("new_rate", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("list_kind", sa.String(length=10), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["borrowers.id"],
            name=op.f("fk_credit_decisions_borrower_id_borrowers"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_credit_decisions_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_decisions")),
        sa.UniqueConstraint(
            "institution_id", "borrower_id", "as_of", "rules_id", name="uq_credit_decisions_run"
        ),
    )
    with op.batch_alter_table("credit_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_decisions_borrower_id"), ["borrower_id"], unique=False
        )
        batch_op.create_index(
            "ix_credit_decisions_institution_as_of", ["institution_id", "as_of"], unique=False
        )

    op.create_table(
        "credit_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(length=40), nullable=False),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_credit_lines_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_credit_lines_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lines")),
        sa.UniqueConstraint("institution_id", "borrower_id", name="uq_credit_lines_borrower"),
    )
    with op.batch_alter_table("credit_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credit_lines_borrower_id"), ["borrower_id"], unique=False
        )

    op.create_table(
        "risk_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("maker", sa.String(length=100), nullable=False),
        sa.Column("checker", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["borrowers.id"],
            name=op.f("fk_risk_list_entries_borrower_id_borrowers"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_risk_list_entries_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_list_entries")),
    )
    with op.batch_alter_table("risk_list_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_risk_list_entries_borrower", ["institution_id", "borrower_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_list_entries_status"), ["status"], unique=False)

    op.create_table(
        "promises_to_pay",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_promises_to_pay_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_promises_to_pay_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises_to_pay")),
    )
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promises_to_pay_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_promises_to_pay_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "risk_list_appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=8000), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["borrowers.id"],
            name=op.f("fk_risk_list_appeals_borrower_id_borrowers"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["risk_list_entries.id"],
            name=op.f("fk_risk_list_appeals_entry_id_risk_list_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_risk_list_appeals_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_list_appeals")),
    )
    with op.batch_alter_table("risk_list_appeals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_list_appeals_borrower_id"), ["borrower_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_list_appeals_due_date"), ["due_date"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_list_appeals_entry_id"), ["entry_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_risk_list_appeals_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_list_appeals_status"), ["status"], unique=False)

    op.create_table(
        "risk_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("model_id", sa.String(length=100), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("exposure", sa.BigInteger(), nullable=False),
        sa.Column("expected_loss", sa.BigInteger(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_risk_scores_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_risk_scores_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_risk_scores_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_scores")),
        sa.UniqueConstraint("loan_id", "as_of", "model_id", name="uq_risk_scores_loan_day_model"),
    )
    with op.batch_alter_table("risk_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_scores_borrower_id"), ["borrower_id"], unique=False
        )
        batch_op.create_index(
            "ix_risk_scores_institution_as_of", ["institution_id", "as_of"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_risk_scores_loan_id"), ["loan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("risk_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_scores_loan_id"))
        batch_op.drop_index("ix_risk_scores_institution_as_of")
        batch_op.drop_index(batch_op.f("ix_risk_scores_borrower_id"))

    op.drop_table("risk_scores")
    with op.batch_alter_table("risk_list_appeals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_list_appeals_status"))
        batch_op.drop_index(batch_op.f("ix_risk_list_appeals_institution_id"))
        batch_op.drop_index(batch_op.f("ix_risk_list_appeals_entry_id"))
        batch_op.drop_index(batch_op.f("ix_risk_list_appeals_due_date"))
        batch_op.drop_index(batch_op.f("ix_risk_list_appeals_borrower_id"))

    op.drop_table("risk_list_appeals")
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_loan_id"))
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_institution_id"))

    op.drop_table("promises_to_pay")
    with op.batch_alter_table("risk_list_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_list_entries_status"))
        batch_op.drop_index("ix_risk_list_entries_borrower")

    op.drop_table("risk_list_entries")
    with op.batch_alter_table("credit_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_lines_borrower_id"))

    op.drop_table("credit_lines")
    with op.batch_alter_table("credit_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_decisions_institution_as_of")
        batch_op.drop_index(batch_op.f("ix_credit_decisions_borrower_id"))

    op.drop_table("credit_decisions")
