"""Audit events record how their hash was made: ``sha256`` (a plain hash chain, the default) or
``hmac-sha256:<key id>`` (keyed with ``SHIPYARD_AUDIT_KEY``, so rewriting the chain needs the key).
Existing events were hashed with sha256.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("scheme", sa.String(length=40), nullable=False, server_default="sha256"))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("scheme")
