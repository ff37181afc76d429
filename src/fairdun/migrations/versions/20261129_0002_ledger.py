"""ledger

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("waterfall", sa.String(length=100), nullable=False),
        sa.Column("tolerance", sa.BigInteger(), nullable=False),
        sa.Column("buckets", sa.Text(), nullable=False),
        sa.Column("penalty_daily_rate", sa.String(length=40), nullable=False),
        sa.Column("penalty_cap_ratio", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_products_institution_id_institutions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("institution_id", "code", name=op.f("uq_products_institution_id")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "borrowers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("id_number", sa.String(length=1024), nullable=True),
        sa.Column("id_number_index", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=1024), nullable=True),
        sa.Column("phone_index", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=1024), nullable=True),
        sa.Column("address", sa.String(length=1024), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_borrowers_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_borrowers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_borrowers")),
        sa.UniqueConstraint(
            "institution_id", "external_id", name=op.f("uq_borrowers_institution_id")
        ),
    )
    with op.batch_alter_table("borrowers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_borrowers_id_number_index"), ["id_number_index"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_borrowers_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_borrowers_phone_index"), ["phone_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_borrowers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "loans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("borrower_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("annual_rate", sa.String(length=40), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=False),
        sa.Column("upfront_fee", sa.BigInteger(), nullable=False),
        sa.Column("periodic_fee", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("charged_off_date", sa.Date(), nullable=True),
        sa.Column("placed_agency_id", sa.Integer(), nullable=True),
        sa.Column("nominal_apr", sa.String(length=40), nullable=False),
        sa.Column("effective_apr", sa.String(length=40), nullable=False),
        sa.Column("cap_flags", sa.String(length=200), nullable=False),
        sa.Column("not_collectable", sa.BigInteger(), nullable=False),
        sa.Column("state_as_of", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("worst_days_past_due", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("outstanding_principal", sa.BigInteger(), nullable=False),
        sa.Column("amount_past_due", sa.BigInteger(), nullable=False),
        sa.Column("payoff_amount", sa.BigInteger(), nullable=False),
        sa.Column("credit", sa.BigInteger(), nullable=False),
        sa.Column("total_paid", sa.BigInteger(), nullable=False),
        sa.Column("paid_off_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["borrower_id"], ["borrowers.id"], name=op.f("fk_loans_borrower_id_borrowers")
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loans_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["placed_agency_id"],
            ["institutions.id"],
            name=op.f("fk_loans_placed_agency_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_loans_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loans")),
        sa.UniqueConstraint("institution_id", "external_id", name=op.f("uq_loans_institution_id")),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loans_borrower_id"), ["borrower_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loans_days_past_due"), ["days_past_due"], unique=False)
        batch_op.create_index(
            "ix_loans_institution_bucket", ["institution_id", "bucket"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loans_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loans_placed_agency_id"), ["placed_agency_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_loans_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loans_status"), ["status"], unique=False)

    op.create_table(
        "bucket_spells",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=10), nullable=False),
        sa.Column("entered_date", sa.Date(), nullable=False),
        sa.Column("left_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_bucket_spells_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bucket_spells")),
    )
    with op.batch_alter_table("bucket_spells", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bucket_spells_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "delinquency_pauses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_delinquency_pauses_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delinquency_pauses")),
    )
    with op.batch_alter_table("delinquency_pauses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_delinquency_pauses_loan_id"), ["loan_id"], unique=False
        )

    op.create_table(
        "instalments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("interest", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("not_collectable", sa.BigInteger(), nullable=False),
        sa.Column("interest_due", sa.BigInteger(), nullable=False),
        sa.Column("principal_paid", sa.BigInteger(), nullable=False),
        sa.Column("interest_paid", sa.BigInteger(), nullable=False),
        sa.Column("fee_paid", sa.BigInteger(), nullable=False),
        sa.Column("penalty_accrued", sa.BigInteger(), nullable=False),
        sa.Column("penalty_paid", sa.BigInteger(), nullable=False),
        sa.Column("settled_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_instalments_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instalments")),
        sa.UniqueConstraint("loan_id", "number", name=op.f("uq_instalments_loan_id")),
    )
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_instalments_due_date"), ["due_date"], unique=False)
        batch_op.create_index(batch_op.f("ix_instalments_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "loan_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("paid_date", sa.Date(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reversed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reversal_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_loan_payments_loan_id_loans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_payments")),
        sa.UniqueConstraint("loan_id", "external_id", name=op.f("uq_loan_payments_loan_id")),
    )
    with op.batch_alter_table("loan_payments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_payments_loan_id"), ["loan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loan_payments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_payments_loan_id"))

    op.drop_table("loan_payments")
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instalments_loan_id"))
        batch_op.drop_index(batch_op.f("ix_instalments_due_date"))

    op.drop_table("instalments")
    with op.batch_alter_table("delinquency_pauses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delinquency_pauses_loan_id"))

    op.drop_table("delinquency_pauses")
    with op.batch_alter_table("bucket_spells", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bucket_spells_loan_id"))

    op.drop_table("bucket_spells")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loans_status"))
        batch_op.drop_index(batch_op.f("ix_loans_product_id"))
        batch_op.drop_index(batch_op.f("ix_loans_placed_agency_id"))
        batch_op.drop_index(batch_op.f("ix_loans_institution_id"))
        batch_op.drop_index("ix_loans_institution_bucket")
        batch_op.drop_index(batch_op.f("ix_loans_days_past_due"))
        batch_op.drop_index(batch_op.f("ix_loans_borrower_id"))

    op.drop_table("loans")
    with op.batch_alter_table("borrowers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_borrowers_user_id"))
        batch_op.drop_index(batch_op.f("ix_borrowers_phone_index"))
        batch_op.drop_index(batch_op.f("ix_borrowers_institution_id"))
        batch_op.drop_index(batch_op.f("ix_borrowers_id_number_index"))

    op.drop_table("borrowers")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_institution_id"))

    op.drop_table("products")
