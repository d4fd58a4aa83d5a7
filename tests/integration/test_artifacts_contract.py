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


def test_storing_the_same_bytes_again_repairs_a_damaged_blob(store) -> None:  # type: ignore[no-untyped-def]
    d = store.put_bytes(b"x")
    _corrupt(store, d)
    # Only bytes that hash to the address can be written there, so the rewrite cannot change a good blob;
    # it replaces a corrupted one (registering the same model file again used to point at the damaged copy).
    assert store.put_bytes(b"x") == d
    assert store.get_bytes(d) == b"x"


def test_named_objects(store) -> None:  # type: ignore[no-untyped-def]
    url = store.put_object("predictions/ep/2026-01-01/00/a.parquet", b"PAR1")
    assert url.endswith("predictions/ep/2026-01-01/00/a.parquet")
    assert any(p.endswith("a.parquet") for p in store.list_objects("predictions/ep"))


def test_unknown_scheme_names_choices() -> None:
    from shipyard.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="file | s3"):
        factory.create("ftp://host/x")


def test_prediction_log_reads_back_by_endpoint_hour_and_columns(store) -> None:  # type: ignore[no-untyped-def]
    """Parquet written by the gateway's flusher reads back from either backend: only that endpoint (not a
    prefix-sharing neighbour), only hours from `since` on, only the asked columns."""
    import io
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    from shipyard.telemetry.prediction_log import read_log

    def put(endpoint: str, hour: str, rid: str, at: datetime) -> None:
        table = pa.table({"request_id": [rid], "timestamp": pa.array([at], pa.timestamp("us", tz="UTC")),
                          "row": [0], "input_x": [1.5]})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        store.put_object(f"predictions/{endpoint}/{hour}/{rid}.parquet", sink.getvalue())

    put("ep", "2026-01-01/09", "early", datetime(2026, 1, 1, 9, 30, tzinfo=UTC))
    put("ep", "2026-01-01/10", "late", datetime(2026, 1, 1, 10, 5, tzinfo=UTC))
    put("ep2", "2026-01-01/10", "other", datetime(2026, 1, 1, 10, 6, tzinfo=UTC))
    assert read_log(store, "ep")["request_id"].to_pylist() == ["early", "late"]
    since = read_log(store, "ep", since=datetime(2026, 1, 1, 10, 0, tzinfo=UTC), columns=["request_id", "row"])
    assert since.column_names == ["request_id", "row"] and since["request_id"].to_pylist() == ["late"]
    assert read_log(store, "nothing") is None
    store.put_object("predictions/ep/2026-01-01/10/junk.parquet", b"not parquet")  # damaged or foreign
    skipped: list[str] = []
    assert read_log(store, "ep", skipped=skipped)["request_id"].to_pylist() == ["early", "late"]
    assert len(skipped) == 1 and skipped[0].endswith("junk.parquet")
