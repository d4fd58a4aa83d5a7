"""ONNX and pyfunc models through the real gateway: registered, served over HTTP, compared with in-process
predictions; pyfunc archives carrying a pickle are refused at registration and again at load."""

from __future__ import annotations

import importlib.util
import io
import json
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.builders import approve, free_port

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

COLUMNS = [f"f{i}" for i in range(4)]
SIG = {"inputs": [{"name": c, "type": "float", "nullable": False} for c in COLUMNS],
       "outputs": [{"name": "prediction"}]}

PYFUNC_SOURCE = '''
import json
import os

import numpy as np


class Scorer:
    feature_names = ["f0", "f1", "f2", "f3"]

    def __init__(self, path):
        with open(os.path.join(path, "weights.json")) as f:
            w = json.load(f)
        self.w, self.b = np.array(w["w"]), float(w["b"])
        self.classes_ = np.array(["no", "yes"])

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-(np.asarray(X, dtype=np.float64) @ self.w + self.b)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]
'''
WEIGHTS = {"w": [0.8, -1.2, 0.3, 2.0], "b": -0.1}


def onnx_models(root: Path) -> tuple[Path, Path]:
    """The same logistic model twice: one [rows, 4] tensor input, and one [rows, 1] input per column."""
    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=COLUMNS)
    y = (X["f0"] - X["f2"] + rng.normal(scale=0.3, size=300) > 0).astype(int)
    lr = LogisticRegression().fit(X.to_numpy(), y)
    single = root / "single.onnx"
    single.write_bytes(convert_sklearn(lr, initial_types=[("X", FloatTensorType([None, 4]))]).SerializeToString())
    pipe = Pipeline([("ct", ColumnTransformer([("s", StandardScaler(), COLUMNS)])),
                     ("lr", LogisticRegression())]).fit(X, y)
    per_col = root / "percol.onnx"
    per_col.write_bytes(convert_sklearn(pipe, initial_types=[(c, FloatTensorType([None, 1])) for c in COLUMNS])
                        .SerializeToString())
    return single, per_col


def pyfunc_zip(extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "scorer:Scorer"}))
        zf.writestr("scorer.py", PYFUNC_SOURCE)
        zf.writestr("weights.json", json.dumps(WEIGHTS))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buf.getvalue()


def reference_scorer(root: Path) -> Any:
    """The user's class imported straight from its source, outside shipyard."""
    src = root / "ref"
    src.mkdir()
    (src / "scorer.py").write_text(PYFUNC_SOURCE)
    (src / "weights.json").write_text(json.dumps(WEIGHTS))
    spec = importlib.util.spec_from_file_location("reference_scorer", src / "scorer.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.Scorer(str(src))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from shipyard.config import Settings
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("flavors")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    single, per_col = onnx_models(root)
    ws.models.register("onnx-single", single, "onnx", signature=SIG)
    approve(ws, "onnx-single:1")
    ws.endpoints.deploy("onnx-single:1")
    mv = ws.models.register("onnx-cols", per_col, "onnx")  # signature from the graph's input names
    assert [i["name"] for i in mv.signature["inputs"]] == COLUMNS
    approve(ws, "onnx-cols:1")
    ws.endpoints.deploy("onnx-cols:1")
    (root / "scorer.zip").write_bytes(pyfunc_zip())
    ws.models.register("scorer", root / "scorer.zip", "pyfunc")
    approve(ws, "scorer:1")
    ws.endpoints.deploy("scorer:1")
    # Bytes skip registration's inspect: the gateway's own check at load must still refuse the pickle.
    ws.models.register("sneaky", pyfunc_zip({"weights.bin": pickle.dumps({"w": 1})}), "pyfunc", signature=SIG)
    approve(ws, "sneaky:1")
    ws.endpoints.deploy("sneaky:1")
    with ServerThread(build_gateway(ws), free_port()) as srv:
        yield {"url": srv.url, "ws": ws, "root": root, "single": single, "per_col": per_col}
    ws.close()


def rows(n: int = 40, seed: int = 11) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4))


def ort_labels(path: Path, X: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = ({names[0]: X.astype(np.float32)} if len(names) == 1
            else {n: X[:, j:j + 1].astype(np.float32) for j, n in enumerate(names)})
    return np.asarray(sess.run(None, feed)[0]).ravel()


def ort_proba(path: Path, X: np.ndarray) -> np.ndarray:
    """onnxruntime's own probabilities (sklearn-onnx's ZipMap output: one {class: p} per row)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    feed = ({names[0]: X.astype(np.float32)} if len(names) == 1
            else {n: X[:, j:j + 1].astype(np.float32) for j, n in enumerate(names)})
    return np.array([[d[k] for k in sorted(d)] for d in sess.run(None, feed)[1]])


@pytest.mark.parametrize("endpoint,key", [("onnx-single", "single"), ("onnx-cols", "per_col")])
def test_onnx_served_equals_onnxruntime_in_process(env, endpoint: str, key: str) -> None:
    X = rows()
    expected = ort_labels(env[key], X)
    assert len(set(expected.tolist())) == 2  # both classes occur: a constant answer would not pass
    r = httpx.post(f"{env['url']}/v1/endpoints/{endpoint}/predict",
                   json={"instances": [dict(zip(COLUMNS, x, strict=True)) for x in X.tolist()]})
    assert r.status_code == 200, r.text
    assert r.headers["x-model-version"] == "1"
    assert r.json()["predictions"] == expected.tolist()
    oip = httpx.post(f"{env['url']}/v2/models/{endpoint}/infer", json={"inputs": [
        {"name": "input-0", "shape": list(X.shape), "datatype": "FP64", "data": X.ravel().tolist()}]})
    assert oip.status_code == 200, oip.text
    out = {o["name"]: o for o in oip.json()["outputs"]}
    assert out["predict"]["data"] == expected.tolist()
    # the graph names its classes (ZipMap), so probabilities are served too, as onnxruntime computes them
    assert out["predict_proba"]["shape"] == [len(X), 2]
    np.testing.assert_allclose(np.array(out["predict_proba"]["data"]).reshape(-1, 2), ort_proba(env[key], X),
                               rtol=0, atol=1e-7)
    assert r.json()["classes"] == [0, 1]
    assert env["ws"].models.get_version(f"{endpoint}:1").to_dict()["signature"] is not None
    bad = httpx.post(f"{env['url']}/v1/endpoints/{endpoint}/predict", json={"instances": [{"f0": 1.0}]})
    assert 400 <= bad.status_code < 500 and bad.json()["error"]["field"] == "instances[0].f1", bad.text


def test_pyfunc_user_class_is_served(env) -> None:
    X = rows(25, seed=5)
    ref = reference_scorer(env["root"])
    r = httpx.post(f"{env['url']}/v1/endpoints/scorer/predict",
                   json={"instances": [dict(zip(COLUMNS, x, strict=True)) for x in X.tolist()]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["classes"] == ["no", "yes"]
    np.testing.assert_allclose(np.array(doc["probabilities"]), ref.predict_proba(X), rtol=0, atol=1e-12)
    assert doc["predictions"] == ref.predict(X).tolist()
    assert {"no", "yes"} == set(doc["predictions"])


@pytest.mark.parametrize(("name", "protocol"), [("weights.pkl", 4), ("weights.bin", 5), ("weights.dat", 0),
                                                ("weights.dat", 1), ("weights.txt", 2)])
def test_pyfunc_with_a_pickle_is_refused_at_registration(env, name: str, protocol: int) -> None:
    from shipyard.flavors.base import UnsafeArtifactError

    path = env["root"] / f"bad-{name}-{protocol}.zip"
    # protocols 0 and 1 have no PROTO header: found by decoding the opcodes, never by loading
    path.write_bytes(pyfunc_zip({name: pickle.dumps({"w": [1.5, 2], "cls": OrderedDict}, protocol=protocol)}))
    with pytest.raises(UnsafeArtifactError) as err:
        env["ws"].models.register("bad", path, "pyfunc")
    assert err.value.value == name and "pickle" in str(err.value.expected)


def test_pyfunc_with_a_pickle_is_refused_at_load(env) -> None:
    r = httpx.post(f"{env['url']}/v1/endpoints/sneaky/predict", json={"instances": [dict.fromkeys(COLUMNS, 0.0)]})
    assert r.status_code == 503, r.text
    assert "weights.bin" in r.json()["error"]["message"] and "pickle" in r.json()["error"]["message"]
