"""The audit head carries ``mac``: HMAC-SHA256 with ``SHIPYARD_AUDIT_KEY`` over (domain, seq, hash) of the
newest event when that event is keyed, so someone without the key cannot rewind the head after deleting
the newest events. NULL while the newest event is plain.

An existing head whose event is keyed is sealed here, with the key of the process that opens the
workspace first after the upgrade; without that key (or with another one) the upgrade is refused with an
error naming SHIPYARD_AUDIT_KEY and nothing changes — open the workspace once with the key set. (Leaving
the MAC empty would make every later append refuse and every verify fail, and accepting an empty MAC
would let anyone rewind the head.)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The format of governance/audit.py head_mac, fixed here so this migration never changes with the code.
_HEAD_DOMAIN = "shipyard.audit_head.v1"
_KEY_INFO = "shipyard.audit_key"  # store/sql/engine.py AUDIT_KEY_INFO


def _head_mac(key: bytes, seq: int, h: str) -> str:
    body = json.dumps([_HEAD_DOMAIN, seq, h], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    head = conn.execute(sa.text("SELECT seq, hash FROM audit_head WHERE id = 1")).first()
    if head is None:
        return
    scheme = conn.execute(sa.text("SELECT scheme FROM audit_events WHERE seq = :s"), {"s": head.seq}).scalar()
    if scheme is None or not str(scheme).startswith("hmac-sha256:"):
        return  # a plain newest event (or a head without its event, which verify reports): no MAC
    from shipyard.errors import UnavailableError

    key: bytes | None = conn.info.get(_KEY_INFO)
    logged = str(scheme).split(":", 1)[1]
    if not key or hashlib.sha256(key).hexdigest()[:12] != logged:
        raise UnavailableError(
            f"SHIPYARD_AUDIT_KEY: upgrading the database to schema 0007 seals the keyed audit log's head and "
            f"needs the key the log was written with (key id {logged}); "
            f"{'it is not set' if not key else 'this key has key id ' + hashlib.sha256(key).hexdigest()[:12]}. "
            "Open the workspace once with that SHIPYARD_AUDIT_KEY (e.g. `shipyard audit verify`); nothing was changed",
            field="SHIPYARD_AUDIT_KEY", value="not set" if not key else "another key",
            expected=f"the audit log's key (key id {logged})")
    conn.execute(sa.text("UPDATE audit_head SET mac = :m WHERE id = 1"),
                 {"m": _head_mac(key, int(head.seq), str(head.hash))})


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("mac")
