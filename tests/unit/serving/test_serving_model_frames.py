"""serving.frames round-trips arrays without pickle; the model process's merge of queued frames gives
each frame exactly its own rows' predictions, and a failing request fails alone."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.serving import frames
from shipyard.serving.model_child import _predict_group
from shipyard.serving.signature import Rows


def _roundtrip(buffers: list) -> tuple:
    data = b"".join(bytes(b) for b in buffers)
    size = int.from_bytes(data[:4], "little")
    assert size == len(data) - 4
    return frames.unpack(data[4:])


def test_arrays_of_every_kind_round_trip():
    arrays = {
        "f": np.arange(12, dtype=np.float64).reshape(3, 4),
        "i": np.array([1, -2, 3], dtype=np.int64),
        "b": np.array([True, False]),
        "s": np.array(["good", "bad"]),
        "o": np.array(["x", 1, None], dtype=object),
        "empty": np.zeros((0, 2)),
        "strided": np.arange(20.0).reshape(4, 5)[:, ::2],
    }
    kind, seq, meta, got, blob = _roundtrip(frames.pack(frames.RESULT, 42, {"note": "é"}, arrays, b"raw"))
    assert (kind, seq, meta, blob) == (frames.RESULT, 42, {"note": "é"}, b"raw")
    for name, want in arrays.items():
        assert got[name].shape == want.shape, name
        assert got[name].tolist() == want.tolist(), name
    assert got["o"].dtype == object and got["s"].dtype.kind == "U"


def test_the_frame_format_is_not_pickle():
    data = b"".join(bytes(b) for b in frames.pack(frames.PREDICT, 1, {"k": 1}, {"X": np.ones((1, 2))}))
    assert b"\x80\x04" not in data[:16] and b"\x80\x05" not in data[:16]
    with pytest.raises(ValueError):  # a pickle is not a frame: orjson refuses the header
        frames.unpack(b"\x00\x00\x00\x00" + __import__("pickle").dumps({"a": 1}))


def predict(rows: Rows) -> dict[str, np.ndarray]:
    if np.isnan(rows.matrix).any():
        raise ValueError("Input X contains NaN")
    return {"predict": rows.matrix.sum(axis=1), "proba": np.c_[rows.matrix[:, :1], rows.matrix[:, 1:2]]}


def _frame(seq: int, parts: list[np.ndarray], limit: int = 32) -> tuple[int, dict, dict]:
    X = np.vstack(parts)
    return seq, {"n": len(X), "counts": [len(p) for p in parts], "max": limit}, {"X": X}


def _decode(out: list) -> dict[int, tuple[int, dict, dict]]:
    data = b"".join(bytes(b) for b in out)
    replies, pos = {}, 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "little")
        kind, seq, meta, arrays, _ = frames.unpack(data[pos + 4:pos + 4 + size])
        replies[seq] = (kind, meta, arrays)
        pos += 4 + size
    return replies


def test_queued_frames_are_merged_and_split_back_per_frame():
    rng = np.random.default_rng(0)
    reqs = [_frame(s, [rng.normal(size=(1 + s % 3, 2)) for _ in range(1 + s % 2)]) for s in range(1, 9)]
    replies = _decode(_predict_group(predict, "m:1", reqs))
    assert sorted(replies) == [seq for seq, _, _ in reqs]
    total = sum(m["n"] for _, m, _ in reqs)
    assert replies[1][1]["batch"] == total  # one call for every queued frame (under the row limit)
    for seq, _, arrays in reqs:
        kind, _, got = replies[seq]
        assert kind == frames.RESULT
        want = predict(Rows(len(arrays["X"]), matrix=arrays["X"]))
        np.testing.assert_array_equal(got["predict"], want["predict"])
        np.testing.assert_array_equal(got["proba"], want["proba"])


def test_the_row_limit_splits_the_merge_into_several_calls():
    reqs = [_frame(s, [np.ones((3, 2)) * s]) for s in range(1, 7)]  # 18 rows, limit 8: calls of 6, 6, 6
    replies = _decode(_predict_group(predict, "m:1", [(s, {**m, "max": 8}, a) for s, m, a in reqs]))
    assert [replies[s][1].get("batch") for s in range(1, 7)] == [6, None, 6, None, 6, None]
    assert all(replies[s][2]["predict"].tolist() == [2.0 * s] * 3 for s in range(1, 7))


def test_a_failing_request_fails_alone_inside_a_merged_call():
    good, bad = np.ones((1, 2)), np.array([[np.nan, 1.0]])
    reqs = [_frame(1, [good, bad, good]), _frame(2, [good])]
    replies = _decode(_predict_group(predict, "m:1", reqs))
    parts = replies[1][1]["parts"]
    assert [("error" in p) for p in parts] == [False, True, False]
    assert parts[1]["error"]["type"] == "ValueError" and parts[1]["error"]["input"] is True
    assert replies[1][2]["0/predict"].tolist() == [2.0]
    assert replies[2][1]["parts"][0]["outputs"] == ["predict", "proba"]


def test_an_unknown_version_is_an_error_reply_not_a_crash():
    replies = _decode(_predict_group(None, "m:9", [_frame(5, [np.ones((1, 2))])]))
    kind, meta, _ = replies[5]
    assert kind == frames.ERROR and "not loaded" in meta["message"]
