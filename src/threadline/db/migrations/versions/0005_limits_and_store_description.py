"""limits and store description: per-project and per-key rate limits, per-project storage
quotas, the key that created a run, and a vector store's description

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

IdType = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requests_per_minute", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("tokens_per_minute", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_file_bytes", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("max_vector_stores", sa.Integer(), nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requests_per_minute", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("tokens_per_minute", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", IdType, nullable=True))
    with op.batch_alter_table("vector_stores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vector_stores", schema=None) as batch_op:
        batch_op.drop_column("description")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("api_key_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("tokens_per_minute")
        batch_op.drop_column("requests_per_minute")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("max_vector_stores")
        batch_op.drop_column("max_file_bytes")
        batch_op.drop_column("tokens_per_minute")
        batch_op.drop_column("requests_per_minute")
