"""responses: runs of kind response, hidden threads, and what a response keeps

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

IdType = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), server_default="run", nullable=False)
        )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hidden", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "responses",
        sa.Column("id", IdType, nullable=False),
        sa.Column("project_id", IdType, nullable=False),
        sa.Column("run_id", IdType, nullable=False),
        sa.Column("thread_id", IdType, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", IdType, nullable=True),
        sa.Column("previous_response_id", IdType, nullable=True),
        sa.Column("store", sa.Boolean(), nullable=False),
        sa.Column("background", sa.Boolean(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("input_items", JsonType, nullable=False),
        sa.Column("options", JsonType, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_responses_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_responses_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responses")),
    )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_responses_project_id_created_at_id"),
            ["project_id", "created_at", "id"],
        )


def downgrade() -> None:
    op.drop_table("responses")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("hidden")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("kind")
