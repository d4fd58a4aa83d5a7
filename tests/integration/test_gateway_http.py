"""The gateway over real HTTP: tritonclient (OIP v2), bad requests, schemathesis, batching identity,
prediction log, feedback, metrics. One uvicorn server in a thread for the module, on SQLite."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.builders import approve, free_port

N_FEATURES = 6
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]


def train_hgb(path: Path, seed: int = 0, max_iter: int = 15):
    import pandas as pd
    import skops.io as sio
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(n_samples=800, n_features=N_FEATURES, n_informative=4, random_state=seed)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed).fit(frame, y)
    sio.dump(model, path)
    return model, X


def train_credit_pipeline(path: Path, credit_csv: Path):
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = pd.read_csv(credit_csv).head(600)
    X = df[["Home", "Age", "Income"]]
    pipe = Pipeline([("ct", ColumnTransformer([("oh", OneHotEncoder(handle_unknown="ignore"), ["Home"])],
                                              remainder="passthrough")),
                     ("m", HistGradientBoostingClassifier(max_iter=10))]).fit(X, df["Status"])
    sio.dump(pipe, path)
    sig = {"inputs": [{"name": "Home", "type": "category", "nullable": False,
                       "categories": sorted(df["Home"].dropna().unique().tolist())},
                      {"name": "Age", "type": "integer", "nullable": False},
                      {"name": "Income", "type": "float", "nullable": True}], "outputs": [{"name": "prediction"}]}
    return pipe, sig


@pytest.fixture(scope="module")
def env(tmp_path_factory, credit_csv):
    from shipyard.config import Settings
    from shipyard.serving.options import GatewayOptions
    from shipyard.serving.server import ServerThread, build_gateway, options_from
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("gw")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    model, X = train_hgb(root / "hgb.skops")
    ws.models.register("hgb", root / "hgb.skops", "sklearn")
    approve(ws, "hgb:1")
    ws.endpoints.deploy("hgb:1", "hgb")
    pipe, sig = train_credit_pipeline(root / "credit.skops", credit_csv)
    ws.models.register("credit", root / "credit.skops", "sklearn", signature=sig)
    approve(ws, "credit:1")
    ws.endpoints.deploy("credit:1")
    opts: GatewayOptions = options_from(ws)
    opts.max_body_bytes = 64 * 1024
    opts.log_drop_columns, opts.log_hash_columns = ["f0"], ["f1"]
    from shipyard.telemetry.prediction_log import log_hash_key

    opts.log_hash_key = log_hash_key(ws.root / ".shipyard")
    gw = build_gateway(ws, opts)
    with ServerThread(gw, free_port()) as srv:
        yield {"url": srv.url, "ws": ws, "gw": gw, "model": model, "X": X, "pipe": pipe, "root": root}
    ws.close()


def test_tritonclient_checks_health_metadata_and_infers(env):
    import tritonclient.http as tc

    client = tc.InferenceServerClient(env["url"].removeprefix("http://"))
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("hgb")
    assert not client.is_model_ready("nope")
    meta = client.get_model_metadata("hgb")
    assert meta["name"] == "hgb" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == COLUMNS
    assert {o["name"] for o in meta["outputs"]} == {"predict", "predict_proba"}

    x = env["X"][:5]
    inp = tc.InferInput("input-0", list(x.shape), "FP64")
    inp.set_data_from_numpy(x.astype(np.float64), binary_data=False)
    outs = [tc.InferRequestedOutput("predict_proba", binary_data=False),
            tc.InferRequestedOutput("predict", binary_data=False)]
    res = client.infer("hgb", [inp], outputs=outs)
    np.testing.assert_allclose(res.as_numpy("predict_proba"), env["model"].predict_proba(
        __import__("pandas").DataFrame(x, columns=COLUMNS)), rtol=0, atol=1e-12)
    assert res.get_response()["model_name"] == "hgb"
    assert res.as_numpy("predict").tolist() == env["model"].predict(
        __import__("pandas").DataFrame(x, columns=COLUMNS)).tolist()
    # one named tensor per column works too
    per_col = [tc.InferInput(c, [5], "FP64") for c in COLUMNS]
    for j, t in enumerate(per_col):
        t.set_data_from_numpy(x[:, j].copy(), binary_data=False)
    res2 = client.infer("hgb", per_col, outputs=[tc.InferRequestedOutput("predict_proba", binary_data=False)])
    np.testing.assert_array_equal(res2.as_numpy("predict_proba"), res.as_numpy("predict_proba"))
    client.close()


ROW = {c: 0.5 for c in COLUMNS}


def oip(data, shape, name="x", datatype="FP64"):
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


BAD = [
    # (path, raw body, status, text the error must contain)
    ("/v2/models/hgb/infer", b'{"inputs": [', 400, "body"),
    ("/v2/models/hgb/infer", b"[1, 2]", 400, "body"),
    ("/v2/models/hgb/infer", json.dumps(oip([0.1] * 5 + ["x"], [1, 6])).encode(), 422, "f5"),
    ("/v2/models/hgb/infer", json.dumps(oip([0.1] * 5, [1, 5])).encode(), 422, "inputs[0].shape"),
    ("/v2/models/hgb/infer", json.dumps(oip([0.1] * 5, [1, 6])).encode(), 422, "inputs[0].data"),
    ("/v2/models/hgb/infer", json.dumps(oip([], [0, 6])).encode(), 422, "empty batch"),
    ("/v2/models/hgb/infer", json.dumps(oip([0.1], [1], name="f0")).encode(), 422, "input f1"),
    ("/v2/models/hgb/infer", json.dumps(oip([0.1], [1], name="zz")).encode(), 422, "zz"),
    ("/v2/models/hgb/infer", json.dumps({"inputs": []}).encode(), 400, "inputs"),
    ("/v2/models/hgb/infer", json.dumps({**oip([0.1] * 6, [1, 6]), "outputs": [{"name": "nope"}]}).encode(), 400,
     "outputs"),
    ("/v2/models/nope/infer", json.dumps(oip([0.1] * 6, [1, 6])).encode(), 404, "model"),
    ("/v2/models/hgb/versions/9/infer", json.dumps(oip([0.1] * 6, [1, 6])).encode(), 404, "version"),
    ("/v2/models/hgb/versions/x/infer", json.dumps(oip([0.1] * 6, [1, 6])).encode(), 404, "version"),
    ("/v1/endpoints/hgb/predict", json.dumps({"instances": [{**ROW, "f2": "high"}]}).encode(), 422, "f2"),
    ("/v1/endpoints/hgb/predict", json.dumps({"instances": [{k: v for k, v in ROW.items() if k != "f3"}]}).encode(),
     422, "f3"),
    ("/v1/endpoints/hgb/predict", json.dumps({"instances": [{**ROW, "extra": 1}]}).encode(), 422, "extra"),
    ("/v1/endpoints/hgb/predict", json.dumps({"instances": []}).encode(), 422, "instances"),
    ("/v1/endpoints/hgb/predict", json.dumps({"instances": [[1, 2, 3, 4, 5, 6]]}).encode(), 400, "instances[0]"),
    ("/v1/endpoints/hgb/predict", json.dumps({"rows": []}).encode(), 400, "rows"),
    ("/v1/endpoints/nope/predict", json.dumps({"instances": [ROW]}).encode(), 404, "endpoint"),
    ("/v1/endpoints/nope/feedback", json.dumps({"request_id": "r", "label": 1}).encode(), 404, "endpoint"),
    ("/v1/endpoints/credit/predict", json.dumps({"instances": [{"Home": "castle", "Age": 30, "Income": 1.0}]}).encode(),
     422, "Home"),
    ("/v1/endpoints/credit/predict", json.dumps({"instances": [{"Home": "rent", "Age": 30.5, "Income": 1.0}]}).encode(),
     422, "Age"),
    ("/v1/endpoints/credit/predict", b'{"instances": [{"Home": "rent", "Age": NaN, "Income": 1.0}]}', 422, "Age"),
    ("/v1/endpoints/credit/predict", json.dumps({"instances": [{"Home": None, "Age": 3, "Income": 1.0}]}).encode(),
     422, "Home"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"label": 1}).encode(), 400, "request_id"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"request_id": "r", "label": "yes"}).encode(), 422, "body.label"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"request_id": "r", "row": -1, "label": 1}).encode(), 400, "body.row"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"request_id": "r", "row": "2", "label": 1}).encode(), 400, "body.row"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"request_id": "r", "labels": [1, 0, 2]}).encode(), 422,
     "body.labels[2]"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"request_id": "r", "labels": []}).encode(), 400, "body.labels"),
    ("/v1/endpoints/hgb/feedback", json.dumps({"request_id": "r", "label": 1, "labels": [1]}).encode(), 400,
     "body.label"),
    ("/v1/endpoints/credit/feedback", json.dumps({"feedback": [{"request_id": "r", "label": "bad"},
                                                               {"request_id": "s", "label": "BAD"}]}).encode(),
     422, "feedback[1].label"),
    ("/nothing/here", b"{}", 404, "path"),
]


@pytest.mark.parametrize(("path", "body", "status", "needle"), BAD)
def test_bad_requests_get_4xx_json_naming_the_field(env, path, body, status, needle):
    r = httpx.post(env["url"] + path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    doc = r.json()
    assert "error" in doc
    assert r.headers["x-request-id"] and "x-model-version" in r.headers
    if path.startswith("/v1/"):
        err = doc["error"]
        assert set(err) == {"type", "field", "value", "expected", "message"}
        assert needle in (err["field"] or "") + err["message"], err
    else:
        assert isinstance(doc["error"], str) and needle in doc["error"], doc


def test_oversized_body_is_413(env):
    big = json.dumps(oip([0.1] * 6 * 3000, [3000, 6])).encode()
    r = httpx.post(env["url"] + "/v2/models/hgb/infer", content=big)
    assert r.status_code == 413 and "body" in r.json()["error"]

    async def chunked() -> httpx.Response:  # no content-length: the limit is enforced while reading
        async def gen():
            for i in range(0, len(big), 8192):
                yield big[i:i + 8192]
        async with httpx.AsyncClient() as c:
            return await c.post(env["url"] + "/v2/models/hgb/infer", content=gen())

    try:
        assert asyncio.run(chunked()).status_code == 413
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pass  # the server answered 413 and closed while the client was still streaming: also a refusal


def test_wrong_method_and_health(env):
    assert httpx.get(env["url"] + "/v2/models/hgb/infer").status_code == 405
    r = httpx.get(env["url"] + "/v2/health/ready")
    assert r.status_code == 200 and r.content == b""


def test_predict_v1_instances_and_dataframe_split_agree(env):
    import pandas as pd

    x = env["X"][:3]
    inst = [dict(zip(COLUMNS, map(float, row), strict=True)) for row in x]
    r1 = httpx.post(env["url"] + "/v1/endpoints/hgb/predict", json={"instances": inst},
                    headers={"x-request-id": "my-req-1"})
    r2 = httpx.post(env["url"] + "/v1/endpoints/hgb/predict",
                    json={"dataframe_split": {"columns": COLUMNS[::-1], "data": [row[::-1] for row in x.tolist()]}})
    assert r1.status_code == r2.status_code == 200
    assert r1.headers["x-request-id"] == "my-req-1" and r1.headers["x-model-version"] == "1"
    assert r1.json()["probabilities"] == r2.json()["probabilities"]
    want = env["model"].predict_proba(pd.DataFrame(x, columns=COLUMNS))
    np.testing.assert_array_equal(np.array(r1.json()["probabilities"]), want)
    # mixed signature: a DataFrame for the pipeline, categories checked
    r3 = httpx.post(env["url"] + "/v1/endpoints/credit/predict",
                    json={"instances": [{"Home": "rent", "Age": 30, "Income": None},
                                        {"Home": "owner", "Age": 50, "Income": 200.0}]})
    assert r3.status_code == 200, r3.text
    assert r3.json()["classes"] == ["bad", "good"] and len(r3.json()["predictions"]) == 2


def test_schemathesis_finds_no_server_errors_and_answers_match_the_document(env):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import response_schema_conformance
    from schemathesis.core.failures import FailureGroup

    schema = schemathesis.openapi.from_url(env["url"] + "/openapi.json")
    failures: list[str] = []
    ran = 0

    def conforms(case, resp) -> None:  # answers, 200s and 4xx errors alike, have the shape the document declares
        try:
            case.validate_response(resp, checks=[response_schema_conformance])
        except FailureGroup as exc:
            failures.append(f"{case.method} {case.formatted_path} {case.body!r:.200} -> {resp.status_code} "
                            f"does not match the OpenAPI document: {exc.exceptions[0]!s:.300}")

    # generated bodies almost never satisfy a signature: the successful answers are checked on valid calls
    credit_row = {"Home": "rent", "Age": 30, "Income": 120.0}
    for method, path, params, body in [
            ("POST", "/v1/endpoints/{endpoint}/predict", {"endpoint": "hgb"}, {"instances": [ROW, ROW]}),
            ("POST", "/v1/endpoints/{endpoint}/predict", {"endpoint": "credit"}, {"instances": [credit_row]}),
            ("POST", "/v2/models/{model_name}/infer", {"model_name": "hgb"}, oip([0.1] * 6, [1, 6])),
            ("GET", "/v2/models/{model_name}", {"model_name": "credit"}, None),
            ("GET", "/v2", {}, None), ("GET", "/v1/endpoints", {}, None)]:
        case = schema[path][method].Case(path_parameters=params, **({"body": body} if body is not None else {}))
        resp = case.call(base_url=env["url"])
        assert resp.status_code == 200, (path, resp.text)
        conforms(case, resp)
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case) -> None:
                nonlocal ran
                resp = case.call(base_url=env["url"])
                ran += 1
                if resp.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.body!r:.200} -> {resp.status_code} "
                                    f"{resp.text[:200]}")
                    return
                conforms(case, resp)
            try:
                check()
            except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE
    assert ran > 100
    assert not failures, "\n".join(failures[:10])


def test_batched_equals_unbatched_for_1000_concurrent_requests(env):
    import pandas as pd

    X = np.vstack([env["X"], env["X"][:200] + 0.01])[:1000]
    model = env["model"]
    single = np.vstack([model.predict_proba(pd.DataFrame(X[i:i + 1], columns=COLUMNS)) for i in range(len(X))])
    before = _batch_stats(env)

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=env["url"], limits=limits, timeout=60) as c:
            return await asyncio.gather(*(c.post("/v2/models/hgb/infer", json=oip(X[i].tolist(), [1, N_FEATURES]))
                                          for i in range(len(X))))

    resps = asyncio.run(main())
    assert all(r.status_code == 200 for r in resps)
    got = np.array([r.json()["outputs"][1]["data"] for r in resps])
    np.testing.assert_array_equal(got, single)  # bit-identical to one-row-at-a-time prediction
    count, total = (a - b for a, b in zip(_batch_stats(env), before, strict=True))
    assert total == 1000 and count < 1000, f"no request was coalesced ({count} batches for {total} rows)"


def _batch_stats(env) -> tuple[float, float]:
    text = httpx.get(env["url"] + "/metrics").text
    val = {}
    for line in text.splitlines():
        for k in ("count", "sum"):
            if line.startswith(f'shipyard_batch_size_{k}{{model="hgb",version="1"}}'):
                val[k] = float(line.split()[-1])
    return val.get("count", 0.0), val.get("sum", 0.0)


def test_metrics_count_requests_errors_and_latency(env):
    httpx.post(env["url"] + "/v2/models/hgb/infer", json=oip([0.1] * 6, [1, 6]))
    httpx.post(env["url"] + "/v2/models/hgb/infer", json=oip([0.1] * 5, [1, 5]))
    text = httpx.get(env["url"] + "/metrics").text
    assert 'shipyard_requests_total{endpoint="hgb",protocol="v2",version="1"}' in text
    assert 'shipyard_request_errors_total{endpoint="hgb",status="422",version="1"}' in text
    assert 'shipyard_request_latency_seconds_bucket{endpoint="hgb",le="0.005",version="1"}' in text
    assert 'shipyard_routing_generation{endpoint="hgb"} 1.0' in text


def test_feedback_is_stored(env):
    r = httpx.post(env["url"] + "/v1/endpoints/hgb/predict", json={"instances": [ROW]})
    rid = r.headers["x-request-id"]
    fb = httpx.post(env["url"] + "/v1/endpoints/hgb/feedback", json={"request_id": rid, "label": 1})
    assert fb.status_code == 202
    # a class sent as text is that class: stored as the model answers it (1, not "1")
    fb = httpx.post(env["url"] + "/v1/endpoints/hgb/feedback", json={"request_id": "as-text", "label": "1"})
    assert fb.status_code == 202, fb.text
    bad = httpx.post(env["url"] + "/v1/endpoints/hgb/feedback", json={"request_id": "typo", "label": 7})
    assert bad.status_code == 422 and bad.json()["error"]["expected"].endswith("0, 1")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stored = {f["request_id"]: f["label"] for f in env["ws"].endpoints.list_feedback("hgb")}
        if stored.get(rid) == 1 and "as-text" in stored:
            assert stored["as-text"] == 1 and "typo" not in stored
            break
        time.sleep(0.1)
    else:
        pytest.fail("feedback never reached the store")
    # a request that predicted three rows: one label per row, or one row's label
    r3 = httpx.post(env["url"] + "/v1/endpoints/hgb/predict", json={"instances": [ROW, ROW, ROW]},
                    headers={"x-request-id": "three-rows"})
    assert r3.status_code == 200
    assert httpx.post(env["url"] + "/v1/endpoints/hgb/feedback", json={"feedback": [
        {"request_id": "three-rows", "labels": [1, "0", 1]},
        {"request_id": "three-rows", "row": 2, "label": 0}]}).json() == {"accepted": 4}
    env["gw"].feedback.flush()
    rows = sorted((f["row"], f["label"]) for f in env["ws"].endpoints.list_feedback("hgb")
                  if f["request_id"] == "three-rows")
    assert rows == [(0, 1), (1, 0), (2, 0), (2, 1)]
    # the logged predictions and their labels, joined, as `shipyard endpoints log` shows them
    env["gw"].predlog.flush()
    view = env["ws"].endpoints.prediction_log("hgb", since="1h", limit=1000)
    mine = [x for x in view.recent if x["request_id"] == rid]
    assert len(mine) == 1 and mine[0]["label"] == 1 and mine[0]["prediction"] == r.json()["predictions"][0]
    three = sorted((x["row"], x["label"]) for x in view.recent if x["request_id"] == "three-rows")
    assert three == [(0, 1), (1, 0), (2, 0)]  # row 2: the latest label sent for it
    stored_keys = {(f["request_id"], f["row"]) for f in env["ws"].endpoints.list_feedback("hgb")}
    # "as-text" was never served: accepted (another replica may have served it), and shown as unmatched
    assert (view.feedback, view.feedback_unmatched) == (len(stored_keys), 1)
    # the log and the feedback are observable too
    text = httpx.get(env["url"] + "/metrics").text
    written = re.search(r'^shipyard_prediction_log_rows_total\{endpoint="hgb",outcome="written"\} (\S+)$', text, re.M)
    labels = re.search(r'^shipyard_feedback_labels_total\{endpoint="hgb"\} (\S+)$', text, re.M)
    assert written and float(written.group(1)) >= view.rows and labels and float(labels.group(1)) >= 6
    v1 = next(v for v in view.versions if v["version"] == 1)
    assert v1["labelled"] >= 1 and v1["accuracy"] is not None and v1["requests"] <= view.requests


def test_prediction_log_flushes_parquet_with_dropped_and_hashed_columns(env):
    import hashlib
    import hmac

    import pyarrow.parquet as pq

    r = httpx.post(env["url"] + "/v1/endpoints/hgb/predict", json={"instances": [ROW, ROW]},
                   headers={"x-request-id": "logged-1"})
    assert r.status_code == 200
    urls = env["gw"].predlog.flush() + env["gw"].predlog.written
    files = sorted((env["ws"].root / ".shipyard" / "artifacts" / "predictions" / "hgb").rglob("*.parquet"))
    assert files and urls
    assert all(len(f.relative_to(f.parents[2]).parts) == 3 for f in files)  # {date}/{HH}/{uuid}.parquet
    import pandas as pd

    table = pd.concat([pq.read_table(f).to_pandas() for f in files])
    rows = table[table.request_id == "logged-1"]
    assert len(rows) == 2 and set(rows["row"]) == {0, 1}
    assert "input_f0" not in table.columns
    key = (env["ws"].root / ".shipyard" / "log-hash.key").read_bytes().strip()
    assert set(rows["input_f1"]) == {hmac.new(key, b"0.5", hashlib.sha256).hexdigest()}
    assert hashlib.sha256(b"0.5").hexdigest() not in set(rows["input_f1"])  # keyed: no dictionary reverses it
    assert (rows["input_f2"] == 0.5).all() and rows["version"].tolist() == [1, 1]
    assert len(rows["output_predict_proba"].iloc[0]) == 2
