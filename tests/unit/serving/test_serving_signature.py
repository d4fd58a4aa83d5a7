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
