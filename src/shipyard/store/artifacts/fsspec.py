"""ArtifactStore on any fsspec filesystem; local folders and S3 are the tested ones."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from shipyard.core.hashing import Digest, sha256_bytes
from shipyard.errors import UnavailableError
from shipyard.store.artifacts.base import ArtifactIntegrityError, ArtifactNotFoundError, blob_key

log = logging.getLogger("shipyard.artifacts")


class FsspecArtifactStore:
    """Blobs are written to a temporary name and renamed into place, never overwritten."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        self._local = self.fs.protocol in ("file", "local") or "file" in tuple(self.fs.protocol)

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def exists(self, digest: Digest) -> bool:
        try:
            return bool(self.fs.exists(self._path(blob_key(digest))))
        except (OSError, ValueError) as exc:
            raise UnavailableError(f"artifact store {self.url}: {exc}") from exc

    def put_bytes(self, data: bytes) -> Digest:
        """Store ``data`` under its sha256. A blob already stored there is checked, and rewritten when its
        bytes no longer hash to their address (storing the same content again repairs a damaged copy)."""
        digest = sha256_bytes(data)
        if self.exists(digest):
            try:
                self.get_bytes(digest)
                return digest
            except ArtifactIntegrityError as exc:
                log.warning("%s; rewriting it from the bytes being stored", exc)
        self._write(blob_key(digest), data)
        return digest

    def put_file(self, path: Path) -> Digest:
        return self.put_bytes(Path(path).read_bytes())

    def put_object(self, key: str, data: bytes) -> str:
        self._write(key, data)
        return f"{self.url}/{key}"

    def _write(self, key: str, data: bytes) -> None:
        final = self._path(key)
        try:
            if self._local:
                parent = final.rsplit("/", 1)[0]
                self.fs.makedirs(parent, exist_ok=True)
                tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
                with self.fs.open(tmp, "wb") as fh:
                    fh.write(data)
                self.fs.mv(tmp, final)
            else:
                # Object stores publish a PUT atomically: readers see all of it or nothing.
                self.fs.pipe_file(final, data)
        except (OSError, ValueError) as exc:
            raise UnavailableError(f"artifact store {self.url}: cannot write {key}: {exc}") from exc

    def get_bytes(self, digest: Digest) -> bytes:
        key = blob_key(digest)
        try:
            data: bytes = self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise ArtifactNotFoundError(
                field="artifact", value=digest, expected=f"a blob stored at {self.url}/{key}"
            ) from None
        except (OSError, ValueError) as exc:
            raise UnavailableError(f"artifact store {self.url}: cannot read {key}: {exc}") from exc
        actual = sha256_bytes(data)
        if actual != digest:
            raise ArtifactIntegrityError(
                f"artifact {self.url}/{key} is corrupted or was tampered with: "
                f"expected sha256 {digest}, got {actual}",
                field="artifact", value=actual, expected=digest,
            )
        return data

    def list_objects(self, prefix: str) -> list[str]:
        try:
            return sorted(self.fs.find(self._path(prefix)))
        except FileNotFoundError:
            return []

    def get_object(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(path))
