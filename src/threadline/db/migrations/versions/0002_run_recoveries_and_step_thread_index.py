"""run recoveries and step thread index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:00:55.652048
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_steps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_run_steps_thread_id_created_at_id"),
            ["thread_id", "created_at", "id"],
            unique=False,
        )

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recoveries", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("recoveries")

    with op.batch_alter_table("run_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_steps_thread_id_created_at_id"))
