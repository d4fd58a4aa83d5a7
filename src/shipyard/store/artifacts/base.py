"""The ArtifactStore protocol and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from shipyard.core.hashing import Digest
from shipyard.errors import IntegrityError, NotFoundError


class ArtifactNotFoundError(NotFoundError):
    """No blob is stored under the digest."""


class ArtifactIntegrityError(IntegrityError):
    """The stored bytes do not hash to their address (tampered or corrupted)."""


class ArtifactStore(Protocol):
    """Immutable blobs addressed by their sha256 (``sha256/ab/cdef...``)."""

    url: str

    def put_bytes(self, data: bytes) -> Digest:
        """Store ``data`` (no-op if present) and return its digest."""
        ...

    def put_file(self, path: Path) -> Digest:
        """Store the file's bytes and return their digest."""
        ...

    def get_bytes(self, digest: Digest) -> bytes:
        """Return the blob, verified against its digest.

        Raises:
            ArtifactNotFoundError: nothing is stored under ``digest``.
            ArtifactIntegrityError: the bytes hash to something else.
        """
        ...

    def exists(self, digest: Digest) -> bool: ...

    def put_object(self, key: str, data: bytes) -> str:
        """Store a named, non-addressed object (prediction-log Parquet files); returns its URL."""
        ...


def blob_key(digest: str) -> str:
    return f"sha256/{digest[:2]}/{digest[2:]}"
