"""outbox dispatch: attempts, retry time, worker lease, provider id, receipts

The dispatcher claims messages under a lease and records what the provider answered.
Existing rows get zero attempts and no lease, so queued ones are simply due.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("claimed_by", sa.String(length=64)))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=200)))
        batch_op.add_column(sa.Column("last_error", sa.String(length=500)))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True)))
        batch_op.create_index(
            batch_op.f("ix_outbox_messages_provider_message_id"),
            ["provider_message_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_messages_provider_message_id"))
        for name in (
            "delivered_at",
            "last_error",
            "provider_message_id",
            "claimed_until",
            "claimed_by",
            "next_attempt_at",
            "attempts",
        ):
            batch_op.drop_column(name)
