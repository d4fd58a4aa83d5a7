"""Content hashing and canonical JSON (the basis of artifact addresses, cache keys and the audit chain)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, BinaryIO, NewType

Digest = NewType("Digest", str)
CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> Digest:
    return Digest(hashlib.sha256(data).hexdigest())


def sha256_stream(fh: BinaryIO) -> Digest:
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(CHUNK), b""):
        h.update(chunk)
    return Digest(h.hexdigest())


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal data gives equal text, hence equal hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_json(obj: Any) -> Digest:
    return sha256_bytes(canonical_json(obj).encode("utf-8"))


def is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
