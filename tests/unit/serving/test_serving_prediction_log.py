"""PredictionLog: rows numbered within their request, objects keyed by endpoint and UTC hour."""

from __future__ import annotations

import io
import re
import time
import types
from datetime import UTC, datetime

import numpy as np
import pyarrow.parquet as pq

from shipyard.serving.signature import Rows
from shipyard.telemetry.prediction_log import PredictionLog


def test_flush_numbers_rows_per_request_and_keys_by_hour() -> None:
    stored: dict[str, bytes] = {}

    def put(key: str, data: bytes) -> str:
        stored[key] = data
        return f"mem://{key}"

    lv = types.SimpleNamespace(model="m", version=3, signature=types.SimpleNamespace(names=("a", "b")))
    log = PredictionLog(put, drop_columns=["b"])
    before = time.time()
    for rid, n in (("r1", 3), ("r2", 1), ("r3", 2)):
        mat = np.arange(n * 2, dtype=float).reshape(n, 2)
        log.record("ep", lv, rid, Rows(n, matrix=mat), {"predict": np.arange(n)}, 1.5)
    after = time.time()
    urls = log.flush()
    assert len(urls) == 1 and len(stored) == 1
    key = next(iter(stored))
    hours = {datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d/%H") for t in (before, after)}
    m = re.fullmatch(r"predictions/ep/(\d{4}-\d{2}-\d{2}/\d{2})/[0-9a-f]{32}\.parquet", key)
    assert m is not None and m.group(1) in hours, key
    table = pq.read_table(io.BytesIO(stored[key])).to_pydict()
    assert table["request_id"] == ["r1"] * 3 + ["r2"] + ["r3"] * 2
    assert table["row"] == [0, 1, 2, 0, 0, 1]
    assert table["input_a"] == [0.0, 2.0, 4.0, 0.0, 0.0, 2.0]
    assert "input_b" not in table
    assert table["output_predict"] == [0, 1, 2, 0, 0, 1]
    assert table["version"] == [3] * 6
    assert log.flush() == []  # the buffer was swapped out


def test_a_large_buffer_is_written_in_chunks_into_one_file(tmp_path) -> None:
    """Past CHUNK records the columns are built chunk by chunk (short GIL holds); a column that is all
    null in one chunk and text in another still ends up as one typed column."""
    import io

    import numpy as np
    import pyarrow.parquet as pq

    from shipyard.serving.signature import Rows
    from shipyard.telemetry import prediction_log as pl

    class Sig:
        names = ("city", "x")

    class LV:
        model, version, signature = "m", 1, Sig

    written: dict[str, bytes] = {}
    log = pl.PredictionLog(lambda k, d: written.setdefault(k, d) and k, interval_s=3600)
    n = pl.CHUNK + 10
    for i in range(n):
        city = None if i < pl.CHUNK else f"c{i}"
        log.record("ep", LV, f"r{i}", Rows(1, columns={"city": [city], "x": [float(i)]}),
                   {"predict": np.array([i % 2])}, 1.0)
    assert len(log.flush()) == 1
    table = pq.read_table(io.BytesIO(next(iter(written.values()))))
    assert table.num_rows == n
    assert str(table.schema.field("input_city").type) == "string"
    assert table.column("input_x").to_pylist() == [float(i) for i in range(n)]
    assert table.column("request_id").to_pylist()[-1] == f"r{n - 1}"


def test_full_chunks_are_converted_when_recorded_and_versions_get_their_own_files() -> None:
    """The flusher thread only encodes: every CHUNK records of one version become an Arrow table on the
    recording thread (the event loop), so a flush never holds the GIL for long stretches of Python."""
    from shipyard.telemetry import prediction_log as pl

    stored: dict[str, bytes] = {}
    log = pl.PredictionLog(lambda k, d: stored.setdefault(k, d) and k, interval_s=3600)
    lvs = [types.SimpleNamespace(model="m", version=v, signature=types.SimpleNamespace(names=("a",)))
           for v in (1, 2)]
    for i in range(pl.CHUNK + 3):
        log.record("ep", lvs[0], f"r{i}", Rows(1, matrix=np.array([[float(i)]])),
                   {"predict": np.array([i]), "predict_proba": np.array([[0.25, 0.75]])}, 1.0)
    log.record("ep", lvs[1], "other", Rows(2, matrix=np.array([[1.0], [2.0]])), {"predict": np.array([0, 1])}, 2.0)
    assert [t.num_rows for t in log._sealed[next(iter(log._sealed))]] == [pl.CHUNK]  # converted already
    assert len(log.flush()) == 2
    tables = [pq.read_table(io.BytesIO(d)).to_pydict() for d in stored.values()]
    v1 = next(t for t in tables if t["version"][0] == 1)
    v2 = next(t for t in tables if t["version"][0] == 2)
    assert v1["input_a"] == [float(i) for i in range(pl.CHUNK + 3)]  # sealed chunk first, then the open rest
    assert v1["request_id"][-1] == f"r{pl.CHUNK + 2}" and v1["output_predict_proba"][0] == [0.25, 0.75]
    assert v2["request_id"] == ["other", "other"] and v2["row"] == [0, 1] and v2["latency_ms"] == [2.0, 2.0]


def test_records_that_cannot_become_a_table_are_dropped_not_raised(caplog) -> None:
    """Conversion runs on the request path: an output Arrow cannot store (3-D) must not fail requests;
    its records are dropped with a log line, other versions' records are still written."""
    from shipyard.telemetry import prediction_log as pl

    stored: dict[str, bytes] = {}
    seen: list[tuple[str, str, int]] = []
    log = pl.PredictionLog(lambda k, d: stored.setdefault(k, d) and k, interval_s=3600,
                           observe=lambda *a: seen.append(a))
    odd = types.SimpleNamespace(model="m", version=1, signature=types.SimpleNamespace(names=("a",)))
    fine = types.SimpleNamespace(model="m", version=2, signature=types.SimpleNamespace(names=("a",)))
    for i in range(pl.CHUNK + 1):  # crosses a chunk boundary: converted inside record()
        log.record("ep", odd, f"r{i}", Rows(1, matrix=np.array([[1.0]])), {"x": np.zeros((1, 2, 2))}, 1.0)
    log.record("ep", fine, "ok", Rows(1, matrix=np.array([[2.0]])), {"predict": np.array([1])}, 1.0)
    assert len(log.flush()) == 1
    table = pq.read_table(io.BytesIO(next(iter(stored.values())))).to_pydict()
    assert table["request_id"] == ["ok"] and table["version"] == [2]
    assert "cannot convert them" in caplog.text
    assert seen == [("ep", "dropped", pl.CHUNK), ("ep", "dropped", 1), ("ep", "written", 1)]


def test_a_store_that_refuses_one_file_loses_those_rows_only_and_counts_them(caplog) -> None:
    stored: dict[str, bytes] = {}
    seen: list[tuple[str, str, int]] = []

    def put(key: str, data: bytes) -> str:
        if key.startswith("predictions/down/"):
            raise OSError("bucket unreachable")
        stored[key] = data
        return key

    log = PredictionLog(put, interval_s=3600, observe=lambda *a: seen.append(a))
    lv = types.SimpleNamespace(model="m", version=1, signature=types.SimpleNamespace(names=("a",)))
    for endpoint, n in (("down", 3), ("up", 2)):
        log.record(endpoint, lv, "r", Rows(n, matrix=np.ones((n, 1))), {"predict": np.zeros(n)}, 1.0)
    assert len(log.flush()) == 1 and all(k.startswith("predictions/up/") for k in stored)
    assert sorted(seen) == [("down", "dropped", 3), ("up", "written", 2)]
    assert "did not take" in caplog.text and "bucket unreachable" in caplog.text


def _logged_hashes(key: bytes, values: list[str]) -> list[str]:
    stored: dict[str, bytes] = {}

    def put(k: str, data: bytes) -> str:
        stored[k] = data
        return f"mem://{k}"

    lv = types.SimpleNamespace(model="m", version=1, signature=types.SimpleNamespace(names=("email",)))
    log = PredictionLog(put, hash_columns=["email"], hash_key=key)
    log.record("ep", lv, "r1", Rows(len(values), columns={"email": values}), {"predict": np.zeros(len(values))}, 1.0)
    log.flush()
    return list(pq.read_table(io.BytesIO(next(iter(stored.values())))).to_pydict()["input_email"])


def test_hashed_columns_use_a_workspace_hmac_key_not_plain_sha256(tmp_path) -> None:
    import hashlib
    import os
    import stat

    from shipyard.telemetry.prediction_log import log_hash_key

    first, again = log_hash_key(tmp_path / "ws1" / ".shipyard"), log_hash_key(tmp_path / "ws1" / ".shipyard")
    other = log_hash_key(tmp_path / "ws2" / ".shipyard")
    assert first == again and first != other and len(first) == 64
    mode = stat.S_IMODE(os.stat(tmp_path / "ws1" / ".shipyard" / "log-hash.key").st_mode)
    assert mode == 0o600
    values = ["ann@example.com", "bob@example.com", "ann@example.com"]
    h1, h1b, h2 = _logged_hashes(first, values), _logged_hashes(again, values), _logged_hashes(other, values)
    assert h1 == h1b and h1[0] == h1[2] and h1[0] != h1[1]  # same value, same workspace: same hash (joinable)
    assert h1[0] != h2[0]  # another workspace: another hash
    assert hashlib.sha256(b"ann@example.com").hexdigest() not in h1 + h2  # a dictionary of sha256 finds nothing
    configured = b"k" * 32  # SHIPYARD_LOG_HASH_KEY wins over the file (several machines hash alike)
    assert log_hash_key(tmp_path / "ws1" / ".shipyard", configured) == configured


def test_hash_columns_without_a_key_is_a_wiring_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="hash_key"):
        PredictionLog(lambda k, d: k, hash_columns=["email"])


def test_configured_log_hash_key_must_not_be_guessable() -> None:
    import pytest

    from shipyard.config import Settings
    from shipyard.errors import InvalidInputError

    assert Settings(log_hash_key="x" * 16).log_hash_key_bytes() == b"x" * 16
    assert Settings().log_hash_key_bytes() is None
    with pytest.raises(InvalidInputError, match="SHIPYARD_LOG_HASH_KEY"):
        Settings(log_hash_key="short").log_hash_key_bytes()


LAZY_ARROW = """
import sys, threading, time, types
import numpy as np
from shipyard.serving.footprint import kept_out
from shipyard.serving.signature import Rows
from shipyard.telemetry import prediction_log as pl

stored = {}
log = pl.PredictionLog(lambda k, d: stored.setdefault(k, d) and k, interval_s=3600,
                       import_guard=lambda: kept_out("pandas"))
log.start()
empty = log.flush()
print("idle", "pyarrow" in sys.modules, empty)
lv = types.SimpleNamespace(model="m", version=1, signature=types.SimpleNamespace(names=("a",)))
for i in range(pl.CHUNK + 1):
    log.record("ep", lv, f"r{i}", Rows(1, matrix=np.array([[float(i)]])), {"predict": np.array([i])}, 1.0)
deadline = time.monotonic() + 60
while not log._arrow_ready and time.monotonic() < deadline:
    time.sleep(0.01)
print("recorded", "pyarrow" in sys.modules, "pandas" in sys.modules, threading.current_thread().name)
urls = log.flush()
pandas_after_flush = "pandas" in sys.modules
import pyarrow.parquet as pq, io
print("flushed", len(urls), pq.read_table(io.BytesIO(next(iter(stored.values())))).num_rows, pandas_after_flush)
"""


def test_pyarrow_is_imported_with_the_first_record_not_at_start() -> None:
    """An idle gateway carries no pyarrow (~60 MB); the first record imports it on a thread of its own, under the
    import guard (the gateway keeps pandas out), and the records kept meanwhile are all written."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", LAZY_ARROW], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "idle False []"  # started, flushed once: nothing imported
    assert lines[1] == "recorded True False MainThread"
    assert lines[2] == "flushed 1 257 False"  # CHUNK + 1 rows
