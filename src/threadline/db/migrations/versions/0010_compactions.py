"""compactions: the summaries behind the Responses API's compaction items

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

IdType = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "compactions",
        sa.Column("id", IdType, nullable=False),
        sa.Column("project_id", IdType, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("user_messages", JsonType, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_compactions_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compactions")),
    )


def downgrade() -> None:
    op.drop_table("compactions")
