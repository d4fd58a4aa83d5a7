"""The OIP binary tensor data extension over a real gateway: tritonclient with its defaults (binary inputs,
binary outputs) gets the same predictions as the JSON path, for a numeric matrix and for per-column inputs with
BYTES text; malformed binary bodies get a 400 JSON error naming the field."""

from __future__ import annotations

import json
import struct

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.builders import approve, free_port
from tests.integration.test_gateway_http import COLUMNS, train_credit_pipeline, train_hgb

tc = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def env(tmp_path_factory, credit_csv):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("binary")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    model, X = train_hgb(root / "hgb.skops")
    ws.models.register("hgb", root / "hgb.skops", "sklearn")
    approve(ws, "hgb:1")
    ws.endpoints.deploy("hgb:1")
    pipe, sig = train_credit_pipeline(root / "credit.skops", credit_csv)
    ws.models.register("credit", root / "credit.skops", "sklearn", signature=sig)
    approve(ws, "credit:1")
    ws.endpoints.deploy("credit:1")
    frame = pd.read_csv(credit_csv).head(40)[["Home", "Age", "Income"]].dropna()
    with ServerThread(build_gateway(ws), free_port()) as srv:
        yield {"url": srv.url, "model": model, "X": X, "pipe": pipe, "frame": frame}
    ws.close()


def _client(env):
    return tc.InferenceServerClient(env["url"].removeprefix("http://"))


def test_tritonclient_defaults_matrix_binary_in_and_out(env) -> None:
    client, x = _client(env), env["X"][:7].astype(np.float64)
    inp = tc.InferInput("input-0", list(x.shape), "FP64")
    inp.set_data_from_numpy(x)  # the default: binary_data=True
    assert inp._get_binary_data() is not None
    binary = client.infer("hgb", [inp])  # no outputs named: tritonclient asks binary_data_output
    assert binary.get_output("predict_proba")["parameters"]["binary_data_size"] == 7 * 2 * 8
    named = client.infer("hgb", [inp], outputs=[tc.InferRequestedOutput("predict_proba"),  # binary_data=True
                                                tc.InferRequestedOutput("predict", binary_data=False)])
    json_in = tc.InferInput("input-0", list(x.shape), "FP64")
    json_in.set_data_from_numpy(x, binary_data=False)
    plain = client.infer("hgb", [json_in], outputs=[tc.InferRequestedOutput("predict_proba", binary_data=False),
                                                    tc.InferRequestedOutput("predict", binary_data=False)])
    expected = env["model"].predict_proba(pd.DataFrame(x, columns=COLUMNS))
    for res in (binary, named, plain):
        np.testing.assert_array_equal(res.as_numpy("predict_proba"), plain.as_numpy("predict_proba"))
        assert res.as_numpy("predict").tolist() == plain.as_numpy("predict").tolist()
    np.testing.assert_allclose(plain.as_numpy("predict_proba"), expected, rtol=0, atol=1e-12)
    assert "data" in named.get_output("predict") and "data" not in named.get_output("predict_proba")
    # FP32 and INT64 binary inputs are read with their own widths
    for dtype, datatype in ((np.float32, "FP32"), (np.int64, "INT64")):
        t = tc.InferInput("input-0", list(x.shape), datatype)
        t.set_data_from_numpy(np.round(x).astype(dtype))
        ref = tc.InferInput("input-0", list(x.shape), datatype)
        ref.set_data_from_numpy(np.round(x).astype(dtype), binary_data=False)
        np.testing.assert_array_equal(client.infer("hgb", [t]).as_numpy("predict_proba"),
                                      client.infer("hgb", [ref]).as_numpy("predict_proba"))


def test_tritonclient_defaults_per_column_with_bytes_text(env) -> None:
    client, frame = _client(env), env["frame"]
    n = len(frame)

    def inputs(binary: bool) -> list:
        home = tc.InferInput("Home", [n], "BYTES")
        home.set_data_from_numpy(frame["Home"].to_numpy(dtype=object), binary_data=binary)
        age = tc.InferInput("Age", [n], "INT64")
        age.set_data_from_numpy(frame["Age"].to_numpy(dtype=np.int64), binary_data=binary)
        income = tc.InferInput("Income", [n], "FP64")
        income.set_data_from_numpy(frame["Income"].to_numpy(dtype=np.float64), binary_data=binary)
        return [home, age, income]

    binary = client.infer("credit", inputs(True))
    plain = client.infer("credit", inputs(False), outputs=[tc.InferRequestedOutput("predict", binary_data=False),
                                                          tc.InferRequestedOutput("predict_proba", binary_data=False)])
    labels = [v.decode() if isinstance(v, bytes) else v for v in binary.as_numpy("predict").tolist()]
    assert labels == plain.as_numpy("predict").tolist() == env["pipe"].predict(frame).tolist()
    np.testing.assert_array_equal(binary.as_numpy("predict_proba"), plain.as_numpy("predict_proba"))


def _post(env, head: dict, raw: bytes, header_len: int | None = None) -> httpx.Response:
    body = json.dumps(head).encode()
    n = len(body) if header_len is None else header_len
    return httpx.post(env["url"] + "/v2/models/hgb/infer", content=body + raw,
                      headers={"Inference-Header-Content-Length": str(n)})


def _fp64(size: int, rows: int = 1) -> dict:
    return {"inputs": [{"name": "x", "shape": [rows, len(COLUMNS)], "datatype": "FP64",
                        "parameters": {"binary_data_size": size}}]}


@pytest.mark.parametrize(("case", "field"), [
    ("size_mismatch", "inputs[0].parameters.binary_data_size"),
    ("size_beyond_body", "inputs[0].parameters.binary_data_size"),
    ("header_beyond_body", "Inference-Header-Content-Length"),
    ("header_not_a_number", "Inference-Header-Content-Length"),
    ("bytes_left_over", "Inference-Header-Content-Length"),
    ("data_and_binary", "inputs[0].data"),
    ("bytes_truncated", "inputs[0].parameters.binary_data_size"),
])
def test_malformed_binary_bodies_get_400_naming_the_field(env, case: str, field: str) -> None:
    row = np.zeros(len(COLUMNS), dtype="<f8").tobytes()
    if case == "size_mismatch":
        r = _post(env, _fp64(len(row) - 8), row[:-8])
    elif case == "size_beyond_body":
        r = _post(env, _fp64(len(row)), row[:-8])
    elif case == "header_beyond_body":
        r = _post(env, _fp64(len(row)), row, header_len=10_000)
    elif case == "header_not_a_number":
        r = httpx.post(env["url"] + "/v2/models/hgb/infer", content=b"{}",
                       headers={"Inference-Header-Content-Length": "ten"})
    elif case == "bytes_left_over":
        r = _post(env, _fp64(len(row)), row + b"\x00" * 8)
    elif case == "data_and_binary":
        head = _fp64(len(row))
        head["inputs"][0]["data"] = [0.0] * len(COLUMNS)
        r = _post(env, head, row)
    else:
        raw = struct.pack("<I", 10) + b"abc"
        head = {"inputs": [{"name": "Home", "shape": [1], "datatype": "BYTES",
                            "parameters": {"binary_data_size": len(raw)}}]}
        body = json.dumps(head).encode()
        r = httpx.post(env["url"] + "/v2/models/credit/infer", content=body + raw,
                       headers={"Inference-Header-Content-Length": str(len(body))})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"].startswith(field), r.json()
