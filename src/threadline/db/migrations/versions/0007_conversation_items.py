"""conversation items: function calls and outputs added through the Conversations API

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

IdType = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_items",
        sa.Column("id", IdType, nullable=False),
        sa.Column("thread_id", IdType, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("position", IdType, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=True),
        sa.Column("data", JsonType, nullable=False),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["threads.id"],
            name=op.f("fk_conversation_items_thread_id_threads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_items")),
    )
    with op.batch_alter_table("conversation_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_items_thread_id_position"), ["thread_id", "position"]
        )
        batch_op.create_index(
            batch_op.f("ix_conversation_items_thread_id_call_id"), ["thread_id", "call_id"]
        )


def downgrade() -> None:
    op.drop_table("conversation_items")
