"""Model versions record their gate evidence (issue 18): ``evidence`` holds what shipyard itself evaluated
(source, run or dataset, evaluation digest, gates result, time) with an HMAC-SHA256 over its canonical JSON,
or ``{"source": "client-supplied"}`` for an evaluation a client sent. NULL: no evidence (every version
registered before this revision is treated as unverified).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("evidence")
