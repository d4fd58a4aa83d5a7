"""Issue 18, pyfunc contract through the real gateway: ``predict`` always receives a pandas DataFrame with the
signature's columns, in order, in the dtypes the signature implies (all-numeric signatures included); a model
that raises answers 500 ``ModelError`` with its own message (v1 and OIP) and is counted under its version in
/metrics; each load extracts the archive to its own private directory (0700, unpredictable name), removed
when the gateway stops; the model process runs under the address-space limit."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.builders import approve, free_port

PROBE = '''
import os
import resource
import stat


class Model:
    def __init__(self, path):
        self.path = path

    def predict(self, X):
        mode = stat.S_IMODE(os.stat(self.path).st_mode)
        parent = stat.S_IMODE(os.stat(os.path.dirname(self.path)).st_mode)
        desc = "|".join([type(X).__name__, ",".join(map(str, X.columns)), ",".join(str(d) for d in X.dtypes),
                         self.path, oct(mode), oct(parent), str(resource.getrlimit(resource.RLIMIT_AS)[0])])
        return [desc] * len(X)
'''

BROKEN = '''
class Model:
    def predict(self, X):
        raise RuntimeError("weights are missing: w.json")
'''

NUMERIC = {"inputs": [{"name": "f0", "type": "float", "nullable": False},
                      {"name": "n", "type": "integer", "nullable": False},
                      {"name": "b", "type": "boolean", "nullable": False}],
           "outputs": [{"name": "prediction"}]}
MIXED = {"inputs": [*NUMERIC["inputs"], {"name": "city", "type": "string", "nullable": False}],
         "outputs": [{"name": "prediction"}]}


def pyfunc_zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", source)
    return buf.getvalue()


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("pyfunc-contract")
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    for name, source, sig in [("probe-num", PROBE, NUMERIC), ("probe-mixed", PROBE, MIXED),
                              ("broken", BROKEN, NUMERIC)]:
        path = root / f"{name}.zip"
        path.write_bytes(pyfunc_zip(source))
        ws.models.register(name, path, "pyfunc", signature=sig)  # a file: inspected (in the sandbox)
        approve(ws, f"{name}:1")
        ws.endpoints.deploy(f"{name}:1")
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def url(ws: Any) -> Iterator[str]:
    from shipyard.serving.server import ServerThread, build_gateway

    with ServerThread(build_gateway(ws), free_port()) as srv:
        yield srv.url


def _desc(text: str) -> dict[str, Any]:
    kind, cols, dtypes, path, mode, parent, limit = text.split("|")
    return {"type": kind, "columns": cols.split(","), "dtypes": dtypes.split(","), "path": path,
            "mode": int(mode, 8), "parent_mode": int(parent, 8), "rlimit_as": int(limit)}


def test_an_all_numeric_signature_still_gives_a_dataframe(url: str) -> None:
    rows = [{"f0": 1.5, "n": 3, "b": True}, {"f0": -0.5, "n": 7, "b": False}]
    r = httpx.post(f"{url}/v1/endpoints/probe-num/predict", json={"instances": rows}, timeout=30)
    assert r.status_code == 200, r.text
    d = _desc(r.json()["predictions"][0])
    assert d["type"] == "DataFrame" and d["columns"] == ["f0", "n", "b"]
    assert d["dtypes"] == ["float64", "int64", "bool"]
    oip = httpx.post(f"{url}/v2/models/probe-num/infer", timeout=30, json={"inputs": [
        {"name": "input-0", "shape": [2, 3], "datatype": "FP64", "data": [1.5, 3, 1, -0.5, 7, 0]}]})
    assert oip.status_code == 200, oip.text
    d = _desc(oip.json()["outputs"][0]["data"][0])
    assert (d["type"], d["columns"], d["dtypes"]) == ("DataFrame", ["f0", "n", "b"], ["float64", "int64", "bool"])


def test_a_mixed_signature_gives_a_dataframe_in_signature_order(url: str) -> None:
    rows = [{"city": "Lyon", "b": True, "n": 3, "f0": 1.5}]  # the client's key order does not matter
    r = httpx.post(f"{url}/v1/endpoints/probe-mixed/predict", json={"instances": rows}, timeout=30)
    assert r.status_code == 200, r.text
    d = _desc(r.json()["predictions"][0])
    assert d["type"] == "DataFrame" and d["columns"] == ["f0", "n", "b", "city"]
    assert d["dtypes"] == ["float64", "int64", "bool", "object"]


def test_each_load_extracts_to_its_own_private_directory(ws: Any, url: str) -> None:
    row = {"instances": [{"f0": 0.0, "n": 0, "b": False}]}
    num = _desc(httpx.post(f"{url}/v1/endpoints/probe-num/predict", json=row, timeout=30).json()["predictions"][0])
    row["instances"][0]["city"] = "x"  # type: ignore[index]
    mixed = _desc(httpx.post(f"{url}/v1/endpoints/probe-mixed/predict", json=row, timeout=30).json()["predictions"][0])
    digest = ws.models.get_version("probe-num:1").artifact_digest
    for d in (num, mixed):
        assert d["mode"] == 0o700 and d["parent_mode"] == 0o700, d
        path = Path(d["path"])
        assert path.name.startswith("shipyard-pyfunc-") and path.parent.name.startswith("shipyard-model-")
        assert digest not in str(path) and digest[:16] not in str(path)
    assert num["path"] != mixed["path"]  # the same bytes, two loads: two directories, nothing shared
    assert num["rlimit_as"] == 2048 << 20  # the model process runs under sandbox.memory_mb (default 2048)
    assert not (Path(tempfile.gettempdir()) / "shipyard-pyfunc" / digest).exists()


def test_the_private_directories_go_when_the_gateway_stops(ws: Any) -> None:
    from shipyard.serving.server import ServerThread, build_gateway

    with ServerThread(build_gateway(ws), free_port()) as srv:
        r = httpx.post(f"{srv.url}/v1/endpoints/probe-num/predict", timeout=30,
                       json={"instances": [{"f0": 0.0, "n": 0, "b": False}]})
        path = Path(_desc(r.json()["predictions"][0])["path"])
        assert path.is_dir()
    assert not path.exists() and not path.parent.exists()


def test_a_model_that_raises_is_a_500_model_error_with_its_message(url: str) -> None:
    r = httpx.post(f"{url}/v1/endpoints/broken/predict", json={"instances": [{"f0": 1.0, "n": 1, "b": True}]},
                   timeout=30)
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["type"] == "ModelError" and "weights are missing: w.json" in err["message"], err
    assert "RuntimeError" in err["message"] and "broken:1" in err["message"] and "internal error" not in err["message"]
    assert r.headers["x-model-version"] == "1"
    oip = httpx.post(f"{url}/v2/models/broken/infer", timeout=30, json={"inputs": [
        {"name": "input-0", "shape": [1, 3], "datatype": "FP64", "data": [1.0, 1, 1]}]})
    assert oip.status_code == 500, oip.text
    assert oip.json()["type"] == "ModelError" and "weights are missing: w.json" in oip.json()["error"]
    text = httpx.get(f"{url}/metrics", timeout=30).text
    counts = {}
    for m in re.finditer(r"^shipyard_request_errors_total\{([^}]*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels["endpoint"] == "broken":
            counts[(labels["version"], labels["status"])] = float(m.group(2))
    assert counts == {("1", "500"): 2.0}, counts  # both answers, as 500s of the version that raised
    ok = httpx.post(f"{url}/v1/endpoints/probe-num/predict", json={"instances": [{"f0": 0.0, "n": 0, "b": False}]},
                    timeout=30)
    assert ok.status_code == 200  # one model's failure is its own
