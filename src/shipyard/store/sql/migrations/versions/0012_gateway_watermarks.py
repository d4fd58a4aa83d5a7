"""Gateway watermarks (issue 19): how far each gateway process has flushed its metric windows.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_watermarks",
        sa.Column("gateway", sa.String(100), nullable=False),
        sa.Column("flushed_through", TS, nullable=False),
        sa.Column("seen_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("gateway", name="pk_gateway_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("gateway_watermarks")
