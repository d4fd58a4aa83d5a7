"""serving.signature: every bad payload names its field; good payloads give identical rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shipyard.serving.signature import RequestError, Signature, concat

NUM = Signature({"inputs": [{"name": "a", "type": "float", "nullable": False},
                            {"name": "b", "type": "integer", "nullable": True},
                            {"name": "c", "type": "float", "nullable": True}]})
MIXED = Signature({"inputs": [{"name": "age", "type": "integer", "nullable": False},
                              {"name": "home", "type": "category", "nullable": False, "categories": ["rent", "owner"]},
                              {"name": "income", "type": "float", "nullable": True}]})


def test_numeric_payload_shapes_agree():
    inst = NUM.from_instances([{"a": 1.5, "b": 2, "c": 3.0}, {"a": 4.0, "b": 5, "c": None}])
    split = NUM.from_dataframe_split({"columns": ["c", "b", "a"], "data": [[3.0, 2, 1.5], [None, 5, 4.0]]})
    tensor = NUM.from_oip([{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": [1.5, 2, 3.0, 4.0, 5, None]}])
    cols = NUM.from_oip([{"name": "a", "shape": [2], "datatype": "FP64", "data": [1.5, 4.0]},
                         {"name": "b", "shape": [2, 1], "datatype": "INT64", "data": [[2], [5]]},
                         {"name": "c", "shape": [2], "datatype": "FP64", "data": [3.0, None]}])
    want = np.array([[1.5, 2, 3.0], [4.0, 5, np.nan]])
    for rows in (inst, split, tensor, cols):
        assert rows.n == 2
        np.testing.assert_array_equal(rows.matrix, want)
    both = concat([inst, tensor])
    assert both.n == 4 and both.matrix.shape == (4, 3)


@pytest.mark.parametrize(("call", "field", "status"), [
    (lambda: NUM.from_instances([{"a": "x", "b": 1, "c": 1.0}]), "instances[0].a", 422),
    (lambda: NUM.from_instances([{"a": 1.0, "b": 1.5, "c": 1.0}]), "instances[0].b", 422),
    (lambda: NUM.from_instances([{"a": 1.0, "b": 1}]), "instances[0].c", 422),
    (lambda: NUM.from_instances([{"a": 1.0, "b": 1, "c": 1.0, "zz": 1}]), "instances[0].zz", 422),
    (lambda: NUM.from_instances([{"a": None, "b": 1, "c": 1.0}]), "instances[0].a", 422),
    (lambda: NUM.from_instances([{"a": math.nan, "b": 1, "c": 1.0}]), "instances[0].a", 422),
    (lambda: NUM.from_instances([{"a": math.inf, "b": 1, "c": 1.0}]), "instances[0].a", 422),
    (lambda: NUM.from_instances([]), "instances", 422),
    (lambda: NUM.from_instances({"a": 1}), "instances", 400),
    (lambda: NUM.from_instances([[1, 2, 3]]), "instances[0]", 400),
    (lambda: NUM.from_oip([{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1.0, 2.0]}]),
     "inputs[0].shape", 422),
    (lambda: NUM.from_oip([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 2.0]}]),
     "inputs[0].data", 422),
    (lambda: NUM.from_oip([{"name": "x", "shape": [0, 3], "datatype": "FP64", "data": []}]), "inputs[0].shape", 422),
    (lambda: NUM.from_oip([{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1.0, "2", 3.0]}]),
     "inputs[0].data[0][b]", 422),
    (lambda: NUM.from_oip([{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0]}]), "input b", 422),
    (lambda: NUM.from_oip([{"name": "q", "shape": [1], "datatype": "FP64", "data": [1.0]}]), "inputs[0].name", 422),
    (lambda: NUM.from_oip([{"name": "x", "shape": [1, 3], "datatype": "FP64"}]), "inputs[0].data", 400),
    (lambda: NUM.from_oip([{"name": "x", "shape": "3", "datatype": "FP64", "data": [1]}]), "inputs[0].shape", 400),
    (lambda: NUM.from_oip([{"name": "x", "shape": [1, 3], "datatype": "FP99", "data": [1, 2, 3]}]),
     "inputs[0].datatype", 400),
    (lambda: NUM.from_oip([]), "inputs", 400),
    (lambda: NUM.from_dataframe_split({"columns": ["a", "b"], "data": [[1, 2]]}), "dataframe_split.columns.c", 422),
    (lambda: MIXED.from_instances([{"age": 30, "home": "castle", "income": 1.0}]), "instances[0].home", 422),
    (lambda: MIXED.from_instances([{"age": "30", "home": "rent", "income": 1.0}]), "instances[0].age", 422),
])
def test_bad_payloads_name_the_field(call, field, status):
    with pytest.raises(RequestError) as exc:
        call()
    assert exc.value.field == field, str(exc.value)
    assert exc.value.status == status
    assert exc.value.expected


def test_mixed_signature_keeps_columns():
    rows = MIXED.from_instances([{"age": 30, "home": "rent", "income": None}, {"age": 41, "home": "owner",
                                                                               "income": 2.5}])
    assert rows.matrix is None and rows.columns == {"age": [30, 41], "home": ["rent", "owner"], "income": [None, 2.5]}


WIDE = Signature({"inputs": [{"name": f"x{i}", "type": "float", "nullable": False} for i in range(5)]
                  + [{"name": "n", "type": "integer", "nullable": False},
                     {"name": "flag", "type": "boolean", "nullable": False}]})


@pytest.mark.parametrize(("call", "field"), [
    # a fraction in an integer column, through each payload shape (the one-tensor form used to reshape after
    # the integer check, and the per-column form checked the transposed matrix)
    (lambda: WIDE.from_oip([{"name": "t", "shape": [1, 7], "datatype": "FP64",
                             "data": [0.1, 0.2, 0.3, 0.4, 0.5, 2.5, 1]}]), "inputs[0].data[0][n]"),
    (lambda: WIDE.from_oip([{"name": c, "shape": [1], "datatype": "FP64", "data": [v]}
                            for c, v in zip([f"x{i}" for i in range(5)] + ["n", "flag"],
                                            [0.1, 0.2, 0.3, 0.4, 0.5, 2.5, 1], strict=True)]), "input n.data[0]"),
    (lambda: WIDE.from_instances([{**{f"x{i}": 0.1 for i in range(5)}, "n": 3, "flag": 2}]), "instances[0].flag"),
    (lambda: WIDE.from_oip([{"name": "t", "shape": [1, 7], "datatype": "FP64",
                             "data": [0.1, 0.2, 0.3, 0.4, 0.5, 2, 7]}]), "inputs[0].data[0][flag]"),
])
def test_integer_and_boolean_columns_are_checked_in_every_payload_shape(call, field):
    with pytest.raises(RequestError) as exc:
        call()
    assert exc.value.field == field and exc.value.status == 422, str(exc.value)


def test_the_fast_path_matches_the_checked_path_for_good_rows():
    data = [0.1, 0.2, 0.3, 0.4, 0.5, 2, 1, 1.1, 1.2, 1.3, 1.4, 1.5, 3, 0]
    tensor = WIDE.from_oip([{"name": "t", "shape": [2, 7], "datatype": "FP64", "data": data}])
    cols = WIDE.from_oip([{"name": c, "shape": [2], "datatype": "FP64", "data": [data[j], data[7 + j]]}
                          for j, c in enumerate([f"x{i}" for i in range(5)] + ["n", "flag"])])
    np.testing.assert_array_equal(tensor.matrix, np.array(data, dtype=float).reshape(2, 7))
    np.testing.assert_array_equal(cols.matrix, tensor.matrix)
    assert cols.matrix.flags.c_contiguous
