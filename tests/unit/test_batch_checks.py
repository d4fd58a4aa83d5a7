"""Batch scoring's per-row signature checks: each bad row gets its own reason, good rows keep their values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from shipyard.batch.checks import check_frame
from shipyard.serving.signature import Signature

SIG = Signature({"inputs": [
    {"name": "amount", "type": "float", "nullable": False},
    {"name": "count", "type": "integer"},
    {"name": "flag", "type": "boolean"},
]})


def test_numeric_rows_each_get_a_reason_and_good_rows_form_the_matrix() -> None:
    df = pd.DataFrame({"amount": ["1.5", "x", None, "2", "inf"], "count": [1, 2, 3, 2.5, 1],
                       "flag": [0, 1, 1, 0, 7], "other": ["a"] * 5})
    c = check_frame(SIG, df)
    assert c.good.tolist() == [True, False, False, False, False]
    assert c.reasons[1] == "amount: got 'x', expected a finite number"
    assert "not nullable" in c.reasons[2]
    assert c.reasons[3] == "count: got 2.5, expected an integer"
    assert c.reasons[4].startswith("amount: got 'inf'")
    assert c.rows is not None and c.rows.matrix is not None
    np.testing.assert_array_equal(c.rows.matrix, [[1.5, 1.0, 0.0]])


def test_boolean_out_of_range_and_missing_column() -> None:
    df = pd.DataFrame({"amount": [1.0, 2.0], "count": [1, 2], "flag": [1, 3]})
    assert check_frame(SIG, df).reasons == {1: "flag: got 3, expected a boolean (0/1/true/false)"}
    c = check_frame(SIG, df.drop(columns=["count"]))
    assert c.rows is None and set(c.reasons) == {0, 1} and c.reasons[0].startswith("count: missing column")


def test_categories_keep_per_column_lists_with_nulls() -> None:
    sig = Signature({"inputs": [{"name": "colour", "type": "category", "categories": ["red", "blue"]},
                                {"name": "n", "type": "integer"}]})
    df = pd.DataFrame({"colour": ["red", "green", None], "n": [1.0, 2.0, None]})
    c = check_frame(sig, df)
    assert c.reasons == {1: "colour: got 'green', expected one of blue, red"}
    assert c.rows is not None and c.rows.columns == {"colour": ["red", None], "n": [1, None]}


def test_arrow_chunks_check_like_their_dataframe() -> None:
    """The Arrow fast path (numeric Parquet batches) accepts and rejects exactly what check_frame does."""
    import pyarrow as pa

    from shipyard.batch.checks import check_chunk

    nullable = Signature({"inputs": [{"name": "a", "type": "float"}, {"name": "n", "type": "integer"},
                                     {"name": "b", "type": "boolean"}]})
    good = pa.record_batch({"a": pa.array([1.5, None, 3.0]), "n": pa.array([1, 2, None], pa.int64()),
                            "b": pa.array([True, False, None]), "extra": pa.array(["x", "y", "z"])})
    fast, df = check_chunk(nullable, good)
    assert df is None and fast.reasons == {} and fast.rows is not None and fast.rows.matrix is not None
    slow = check_frame(nullable, good.to_pandas())
    np.testing.assert_array_equal(fast.rows.matrix, slow.rows.matrix)  # type: ignore[union-attr]
    for sig, batch in [
        (SIG, pa.record_batch({"amount": [1.0, None], "count": [1, 2], "flag": [0, 1]})),  # null, not nullable
        (SIG, pa.record_batch({"amount": [1.0, float("inf")], "count": [1, 2], "flag": [0, 1]})),
        (SIG, pa.record_batch({"amount": [1.0, 2.0], "count": [1.0, 2.5], "flag": [0, 1]})),
        (SIG, pa.record_batch({"amount": [1.0, 2.0], "count": [1, 2], "flag": [0, 2]})),
        (SIG, pa.record_batch({"amount": ["1", "x"], "count": [1, 2], "flag": [0, 1]})),
        (SIG, pa.record_batch({"amount": [1.0, 2.0], "flag": [0, 1]})),
    ]:
        got, df = check_chunk(sig, batch)
        want = check_frame(sig, batch.to_pandas())
        assert df is not None and got.reasons == want.reasons and want.reasons
        assert got.good.tolist() == want.good.tolist()


def test_monitor_sample_is_a_stable_hash_of_part_and_row() -> None:
    from shipyard.batch.parts import Part
    from shipyard.batch.score import sampled

    a, b = Part("x/a.parquet", "parquet", "a.parquet"), Part("x/b.parquet", "parquet", "b.parquet")
    idx = np.arange(100_000)
    keep = sampled(a, idx, 0.1)
    assert abs(keep.mean() - 0.1) < 0.005
    assert np.array_equal(keep, sampled(a, idx, 0.1))  # a rerun logs the same rows
    assert np.array_equal(keep[500:700], sampled(a, idx[500:700], 0.1))  # whatever the chunking
    assert (keep != sampled(b, idx, 0.1)).any()  # another part, other rows
    assert (sampled(a, idx, 0.05) <= keep).all()  # a smaller rate keeps a subset
    assert sampled(a, idx, 1.0).all()
