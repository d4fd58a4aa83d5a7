"""Contract suite for every artifact backend (factory.BACKENDS): local folder and S3 via moto's server."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.core.hashing import sha256_bytes
from shipyard.store.artifacts import factory
from shipyard.store.artifacts.base import ArtifactIntegrityError, ArtifactNotFoundError, blob_key


@pytest.fixture(params=sorted(factory.BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "file":
        return factory.create(f"file://{tmp_path / 'artifacts'}")
    request.getfixturevalue("s3_server")
    return factory.create(f"s3://shipyard/{tmp_path.name}")


def _corrupt(store, digest: str) -> None:  # type: ignore[no-untyped-def]
    path = f"{store.root}/{blob_key(digest)}"
    store.fs.pipe_file(path, b"evil bytes")


def test_roundtrip_and_idempotence(store) -> None:  # type: ignore[no-untyped-def]
    data = b"model bytes" * 1000
    d1 = store.put_bytes(data)
    assert d1 == sha256_bytes(data) and store.exists(d1)
    assert store.put_bytes(data) == d1
    assert store.get_bytes(d1) == data


def test_missing_blob(store) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ArtifactNotFoundError):
        store.get_bytes(sha256_bytes(b"never stored"))


def test_tampered_blob_names_both_hashes(store) -> None:  # type: ignore[no-untyped-def]
    d = store.put_bytes(b"original")
    _corrupt(store, d)
    with pytest.raises(ArtifactIntegrityError) as exc:
        store.get_bytes(d)
    assert d in str(exc.value) and sha256_bytes(b"evil bytes") in str(exc.value)


def test_existing_blob_is_never_overwritten(store) -> None:  # type: ignore[no-untyped-def]
    d = store.put_bytes(b"x")
    _corrupt(store, d)
    store.put_bytes(b"x")  # already present under its address: not rewritten
    with pytest.raises(ArtifactIntegrityError):
        store.get_bytes(d)


def test_named_objects(store) -> None:  # type: ignore[no-untyped-def]
    url = store.put_object("predictions/ep/2026-01-01/00/a.parquet", b"PAR1")
    assert url.endswith("predictions/ep/2026-01-01/00/a.parquet")
    assert any(p.endswith("a.parquet") for p in store.list_objects("predictions/ep"))


def test_unknown_scheme_names_choices() -> None:
    from shipyard.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="file | s3"):
        factory.create("ftp://host/x")
