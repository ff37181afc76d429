"""instalments.fee_due: the fee still owed for a period, after a closing prepayment's waiver

The tolerance test of days past due read the contracted fee, so a period whose fee a
prepayment waived still counted as unpaid in the portfolio batch. Existing rows owe their
contracted fee unless the loan is replayed (every event replays it).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_due", sa.BigInteger(), nullable=True))
    op.execute("UPDATE instalments SET fee_due = fee")
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.alter_column("fee_due", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("instalments", schema=None) as batch_op:
        batch_op.drop_column("fee_due")
