"""containers: code_interpreter sessions of the Responses API and the files in them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

IdType = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
JsonType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "containers",
        sa.Column("id", IdType, nullable=False),
        sa.Column("project_id", IdType, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_active_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_after_minutes", sa.Integer(), nullable=False),
        sa.Column("memory_limit", sa.String(length=8), nullable=False),
        sa.Column("network_policy", JsonType, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_containers_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containers")),
    )
    with op.batch_alter_table("containers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_containers_project_id_created_at_id"),
            ["project_id", "created_at", "id"],
        )
        batch_op.create_index(
            batch_op.f("ix_containers_project_id_name_created_at_id"),
            ["project_id", "name", "created_at", "id"],
        )
    op.create_table(
        "container_files",
        sa.Column("id", IdType, nullable=False),
        sa.Column("container_id", IdType, nullable=False),
        sa.Column("project_id", IdType, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["container_id"],
            ["containers.id"],
            name=op.f("fk_container_files_container_id_containers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_container_files")),
        sa.UniqueConstraint(
            "container_id", "path", name=op.f("uq_container_files_container_id_path")
        ),
    )
    with op.batch_alter_table("container_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_container_files_container_id_created_at_id"),
            ["container_id", "created_at", "id"],
        )
        batch_op.create_index(batch_op.f("ix_container_files_project_id"), ["project_id"])


def downgrade() -> None:
    op.drop_table("container_files")
    op.drop_table("containers")
