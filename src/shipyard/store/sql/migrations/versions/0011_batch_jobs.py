"""Batch scoring jobs (issue 19): one row per `shipyard batch score` run, with its lineage.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("engine", sa.String(20), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("bad", sa.BigInteger(), nullable=True),
        sa.Column("max_bad_rate", sa.Float(), nullable=False),
        sa.Column("monitor_endpoint", sa.String(200), nullable=True),
        sa.Column("logged", sa.BigInteger(), nullable=True),
        sa.Column("record", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch_jobs"),
    )
    op.create_index("ix_batch_jobs_model_version", "batch_jobs", ["model", "version"])
    op.create_index("ix_batch_jobs_started_at", "batch_jobs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_batch_jobs_started_at", table_name="batch_jobs")
    op.drop_index("ix_batch_jobs_model_version", table_name="batch_jobs")
    op.drop_table("batch_jobs")
