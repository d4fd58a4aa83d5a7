"""OIP v2 over gRPC (issue 20, point 4): a real gateway with real models serves KServe's
GRPCInferenceService next to its HTTP port. tritonclient.grpc (raw contents) and a plain gRPC channel
(typed contents) get health, metadata and predictions equal to the REST path's; bad requests get
INVALID_ARGUMENT or NOT_FOUND naming the field, never INTERNAL."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.builders import approve, free_port
from tests.integration.test_gateway_http import COLUMNS, train_credit_pipeline, train_hgb

grpc = pytest.importorskip("grpc")
tg = pytest.importorskip("tritonclient.grpc")


@pytest.fixture(scope="module")
def env(tmp_path_factory, credit_csv):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("grpc")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    model, X = train_hgb(root / "hgb.skops")
    train_hgb(root / "hgb2.skops", seed=1)
    ws.models.register("hgb", root / "hgb.skops", "sklearn")
    ws.models.register("hgb", root / "hgb2.skops", "sklearn")  # v2: a shadow, never answers
    approve(ws, "hgb:1")
    ws.endpoints.deploy("hgb:1")
    ws.endpoints.set_routing("hgb", {"routes": [{"version": 1, "weight": 100}], "shadow": [2]})
    pipe, sig = train_credit_pipeline(root / "credit.skops", credit_csv)
    ws.models.register("credit", root / "credit.skops", "sklearn", signature=sig)
    approve(ws, "credit:1")
    ws.endpoints.deploy("credit:1")
    frame = pd.read_csv(credit_csv).head(30)[["Home", "Age", "Income"]].dropna()
    port = free_port()
    with ServerThread(build_gateway(ws), free_port(), grpc_port=port) as srv:
        yield {"url": srv.url, "grpc": f"127.0.0.1:{port}", "model": model, "X": X, "pipe": pipe, "frame": frame}
    ws.close()


@pytest.fixture()
def client(env):
    c = tg.InferenceServerClient(env["grpc"])
    yield c
    c.close()


def _rest(env, name: str, inputs: list[dict]) -> dict:
    r = httpx.post(f"{env['url']}/v2/models/{name}/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    return {o["name"]: o["data"] for o in r.json()["outputs"]}


def test_health_and_metadata_like_rest(env, client) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("hgb") and client.is_model_ready("hgb", "1")
    assert not client.is_model_ready("nope")  # REST: 400 (not ready)
    server = client.get_server_metadata()
    rest_server = httpx.get(env["url"] + "/v2").json()
    assert (server.name, server.version) == (rest_server["name"], rest_server["version"])
    for name in ("hgb", "credit"):
        meta = client.get_model_metadata(name, as_json=True)
        rest = httpx.get(f"{env['url']}/v2/models/{name}").json()
        assert (meta["name"], meta["versions"], meta["platform"]) == (rest["name"], rest["versions"], rest["platform"])
        for key in ("inputs", "outputs"):
            assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in meta[key]] == \
                [(t["name"], t["datatype"], t["shape"]) for t in rest[key]]
    assert client.get_model_metadata("hgb", "1", as_json=True)["versions"] == ["1"]


@pytest.mark.parametrize(("dtype", "datatype"), [(np.float32, "FP32"), (np.float64, "FP64"), (np.int64, "INT64")])
def test_tritonclient_infer_matrix_equals_rest(env, client, dtype, datatype) -> None:
    x = (env["X"][:9] if datatype != "INT64" else np.round(env["X"][:9])).astype(dtype)
    inp = tg.InferInput("input-0", list(x.shape), datatype)
    inp.set_data_from_numpy(x)
    res = client.infer("hgb", [inp])
    rest = _rest(env, "hgb", [{"name": "input-0", "shape": list(x.shape), "datatype": datatype,
                               "data": x.ravel().tolist()}])
    assert res.get_response().model_version == "1"
    np.testing.assert_array_equal(res.as_numpy("predict_proba").ravel(), np.asarray(rest["predict_proba"]))
    assert res.as_numpy("predict").tolist() == rest["predict"]
    if datatype == "FP64":
        expected = env["model"].predict_proba(pd.DataFrame(x, columns=COLUMNS))
        np.testing.assert_allclose(res.as_numpy("predict_proba"), expected, rtol=0, atol=1e-12)


def test_tritonclient_per_column_bytes_equals_rest(env, client) -> None:
    frame = env["frame"]
    n = len(frame)
    cols = [("Home", "BYTES", frame["Home"].to_numpy(dtype=object)), ("Age", "INT64", frame["Age"].to_numpy("i8")),
            ("Income", "FP64", frame["Income"].to_numpy("f8"))]
    inputs = []
    for name, datatype, arr in cols:
        t = tg.InferInput(name, [n], datatype)
        t.set_data_from_numpy(arr)
        inputs.append(t)
    res = client.infer("credit", inputs, outputs=[tg.InferRequestedOutput("predict")], request_id="r-1")
    assert res.get_response().id == "r-1" and [o.name for o in res.get_response().outputs] == ["predict"]
    rest = _rest(env, "credit", [{"name": c, "shape": [n], "datatype": d, "data": a.tolist()} for c, d, a in cols])
    labels = [v.decode() for v in res.as_numpy("predict").tolist()]
    assert labels == rest["predict"] == env["pipe"].predict(frame).tolist()


def _stub(env, rpc: str, response: str):
    from shipyard.serving.grpc import grpc_predict_v2_pb2 as pb

    channel = grpc.insecure_channel(env["grpc"])
    return channel, channel.unary_unary(f"/inference.GRPCInferenceService/{rpc}",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=getattr(pb, response).FromString), pb


def test_typed_contents_in_and_out_equal_rest(env) -> None:
    x = env["X"][:5]
    channel, infer, pb = _stub(env, "ModelInfer", "ModelInferResponse")
    with channel:
        req = pb.ModelInferRequest(model_name="hgb")
        t = req.inputs.add(name="input-0", datatype="FP64", shape=list(x.shape))
        t.contents.fp64_contents.extend(x.ravel().tolist())
        resp = infer(req)
        frame = env["frame"].head(4)
        req2 = pb.ModelInferRequest(model_name="credit", model_version="1")
        req2.inputs.add(name="Home", datatype="BYTES", shape=[4]).contents.bytes_contents.extend(
            v.encode() for v in frame["Home"])
        req2.inputs.add(name="Age", datatype="INT64", shape=[4]).contents.int64_contents.extend(frame["Age"].tolist())
        req2.inputs.add(name="Income", datatype="FP32", shape=[4]).contents.fp32_contents.extend(
            frame["Income"].tolist())
        resp2 = infer(req2)
    assert not resp.raw_output_contents  # typed in, typed out
    out = {o.name: o for o in resp.outputs}
    rest = _rest(env, "hgb", [{"name": "input-0", "shape": list(x.shape), "datatype": "FP64",
                               "data": x.ravel().tolist()}])
    assert list(out["predict_proba"].contents.fp64_contents) == rest["predict_proba"]
    assert list(out["predict"].contents.int64_contents) == rest["predict"]
    assert [b.decode() for b in {o.name: o for o in resp2.outputs}["predict"].contents.bytes_contents] == \
        env["pipe"].predict(frame).tolist()


def _error(fn, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(tg.InferenceServerException) as info:
        fn(*args, **kwargs)
    return str(info.value.status()), info.value.message()


def _matrix(shape: list[int], name: str = "input-0") -> list:
    t = tg.InferInput(name, shape, "FP64")
    t.set_data_from_numpy(np.zeros(shape, dtype=np.float64))
    return [t]


@pytest.mark.parametrize(("case", "code", "field"), [
    ("wrong_shape", "INVALID_ARGUMENT", "inputs[0].shape"),
    ("unknown_input", "INVALID_ARGUMENT", "inputs"),
    ("unknown_output", "INVALID_ARGUMENT", "outputs"),
    ("unknown_model", "NOT_FOUND", "model"),
    ("unknown_version", "NOT_FOUND", "version"),
    ("shadow_version", "NOT_FOUND", "version"),
    ("metadata_unknown_model", "NOT_FOUND", "model"),
    ("ready_shadow", "NOT_FOUND", "version"),
])
def test_bad_requests_name_the_field(env, client, case: str, code: str, field: str) -> None:
    if case == "wrong_shape":
        status, msg = _error(client.infer, "hgb", _matrix([2, len(COLUMNS) + 1]))
    elif case == "unknown_input":
        status, msg = _error(client.infer, "hgb", _matrix([2], "nope") + _matrix([2], "f1"))
    elif case == "unknown_output":
        status, msg = _error(client.infer, "hgb", _matrix([1, len(COLUMNS)]),
                             outputs=[tg.InferRequestedOutput("nope")])
    elif case == "unknown_model":
        status, msg = _error(client.infer, "nope", _matrix([1, len(COLUMNS)]))
    elif case in ("unknown_version", "shadow_version"):
        status, msg = _error(client.infer, "hgb", _matrix([1, len(COLUMNS)]),
                             model_version="7" if case == "unknown_version" else "2")
    elif case == "metadata_unknown_model":
        status, msg = _error(client.get_model_metadata, "nope")
    else:
        status, msg = _error(client.is_model_ready, "hgb", "2")
    assert status == f"StatusCode.{code}", (status, msg)
    assert field in msg, msg


@pytest.mark.parametrize(("case", "field"), [
    ("raw_size", "raw_input_contents[0]"),
    ("raw_count", "raw_input_contents"),
    ("typed_wrong_field", "inputs[0].contents.fp32_contents"),
    ("typed_unknown_datatype", "inputs[0].datatype"),
    ("bytes_not_utf8", "inputs[0].contents.bytes_contents[0]"),
])
def test_malformed_tensors_are_invalid_argument(env, case: str, field: str) -> None:
    channel, infer, pb = _stub(env, "ModelInfer", "ModelInferResponse")
    req = pb.ModelInferRequest(model_name="hgb")
    t = req.inputs.add(name="input-0", datatype="FP64", shape=[1, len(COLUMNS)])
    if case == "raw_size":
        req.raw_input_contents.append(b"\x00" * 8)
    elif case == "raw_count":
        req.raw_input_contents.extend([b"\x00" * 48, b"\x00" * 48])
    elif case == "typed_wrong_field":
        t.contents.fp32_contents.extend([0.0] * len(COLUMNS))
    elif case == "typed_unknown_datatype":
        t.datatype = "FP8"
    else:
        req.model_name = "credit"
        t.name, t.datatype, t.shape[:] = "Home", "BYTES", [1]
        t.contents.bytes_contents.append(b"\xff\xfe")
    with channel, pytest.raises(grpc.RpcError) as info:
        infer(req)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    assert field in info.value.details()


def test_committed_stubs_match_the_vendored_proto() -> None:
    """``make grpc-stubs`` regenerates the messages; the committed file must describe the same proto."""
    import re

    pytest.importorskip("grpc_tools")
    from tests.grpc_stubs import DIR, generate

    def descriptor(text: str) -> str:
        return re.search(r"AddSerializedFile\((b'.*?')\)\n", text, flags=re.S).group(1)

    committed = (DIR / "grpc_predict_v2_pb2.py").read_text(encoding="utf-8")
    assert descriptor(committed) == descriptor(generate())
    assert "_POOL = _descriptor_pool.DescriptorPool()" in committed
    assert "ValidateProtobufRuntimeVersion" not in committed


def _metric(env, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(env["url"] + "/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_grpc_requests_share_routing_metrics_and_shadows(env, client) -> None:
    """The same Gateway.infer as REST: request and error metrics count gRPC calls, the shadow gets its mirror."""
    import time

    answered = _metric(env, "shipyard_requests_total", endpoint="hgb", version="1")
    mirrored = _metric(env, "shipyard_shadow_requests_total", endpoint="hgb", version="2", outcome="ok")
    errors = _metric(env, "shipyard_request_errors_total", endpoint="hgb", status="422")
    client.infer("hgb", _matrix([3, len(COLUMNS)]))
    _error(client.infer, "hgb", _matrix([1, len(COLUMNS) + 1]))
    assert _metric(env, "shipyard_requests_total", endpoint="hgb", version="1") == answered + 1
    assert _metric(env, "shipyard_request_errors_total", endpoint="hgb", status="422") == errors + 1
    deadline = time.monotonic() + 10
    while _metric(env, "shipyard_shadow_requests_total", endpoint="hgb", version="2", outcome="ok") == mirrored:
        assert time.monotonic() < deadline, "the shadow never got the gRPC request's mirror"
        time.sleep(0.05)
