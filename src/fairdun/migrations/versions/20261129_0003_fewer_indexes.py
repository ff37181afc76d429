"""fewer indexes: drop two that a unique constraint already serves

``ix_instalments_loan_id`` repeats the first column of ``UNIQUE (loan_id, number)`` and
``ix_loans_institution_id`` the first column of ``UNIQUE (institution_id, external_id)``:
every lookup they served, the unique index serves, and each row written (an import of a
million loans writes thirteen million instalments) no longer updates them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instalments") as batch_op:
        batch_op.drop_index("ix_instalments_loan_id")
    with op.batch_alter_table("loans") as batch_op:
        batch_op.drop_index("ix_loans_institution_id")


def downgrade() -> None:
    with op.batch_alter_table("loans") as batch_op:
        batch_op.create_index("ix_loans_institution_id", ["institution_id"], unique=False)
    with op.batch_alter_table("instalments") as batch_op:
        batch_op.create_index("ix_instalments_loan_id", ["loan_id"], unique=False)
