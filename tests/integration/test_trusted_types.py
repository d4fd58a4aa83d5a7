"""shipyard.yaml ``trusted_types``: a RandomForest pipeline selecting columns with
``make_column_selector(dtype_include=object)`` needs ``builtins.object``, which nothing trusts by default.
It is refused with the type named and the hint, registers once the workspace trusts the type (recorded with
the version and in the audit event), and serves predictions on a real gateway (the model process loads it
with the same trust). Dropping the type from shipyard.yaml revokes it for the version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.builders import approve, free_port

from shipyard.errors import InvalidInputError

SIG = {"inputs": [{"name": "a", "type": "float", "nullable": False}, {"name": "b", "type": "float", "nullable": False},
                  {"name": "c", "type": "string", "nullable": False}],
       "outputs": [{"name": "prediction"}]}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                         "c": rng.choice(["red", "green", "blue"], n).astype(object)})


def _selector_forest(path: Path) -> Any:
    import skops.io as sio
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = _frame(300, 0)
    y = ((X["a"] > 0) ^ (X["c"] == "red")).astype(int).to_numpy()
    features = ColumnTransformer([("text", OneHotEncoder(handle_unknown="ignore"),
                                   make_column_selector(dtype_include=object))], remainder="passthrough")
    model = Pipeline([("features", features),
                      ("forest", RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0))]).fit(X, y)
    sio.dump(model, path)
    return model


def _set_trusted(root: Path, types: list[str]) -> None:
    cfg = root / "shipyard.yaml"
    lines = [ln for ln in cfg.read_text().splitlines() if not ln.startswith("trusted_types")]
    if types:
        lines.append("trusted_types: " + json.dumps(types))
    cfg.write_text("\n".join(lines) + "\n")


def test_selector_forest_is_refused_then_trusted_audited_and_served(tmp_path: Path) -> None:
    from shipyard.config import Settings
    from shipyard.flavors.base import UnsafeArtifactError
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path / "ws"
    artifact = tmp_path / "selector.skops"
    model = _selector_forest(artifact)
    settings = Settings(actor="alice")
    with Workspace.init(root, settings=settings) as ws:
        with pytest.raises(UnsafeArtifactError) as err:
            ws.models.register("selector", artifact, "sklearn", signature=SIG)
        msg = str(err.value)
        assert "found builtins.object" in msg and "add it to trusted_types" in msg and "shipyard.yaml" in msg
        assert "sklearn.tree._tree.Tree" not in msg  # trees are trusted through tree_check, nothing to do
        assert ws.models.list_models() == []  # nothing half-registered

    _set_trusted(root, ["builtins.object"])
    with Workspace.open(root, settings=settings) as ws:
        mv = ws.models.register("selector", artifact, "sklearn", signature=SIG)
        assert mv.provenance["trusted_types"] == ["builtins.object"]
        assert mv.provenance["artifact"]["trusted_types"] == ["builtins.object"]
        event = ws.audit.log(action="model.register")[-1]
        assert json.loads(event.after or "{}")["trusted_types"] == ["builtins.object"]
        # bytes (the pipeline's register step) are recorded too; a client's own claim is not taken
        by_bytes = ws.models.register("selector-bytes", artifact.read_bytes(), "sklearn", signature=SIG,
                                      provenance={"trusted_types": ["builtins.eval"]})
        assert by_bytes.provenance["trusted_types"] == ["builtins.object"]
        assert ws.models.trusted_for(by_bytes) == ["builtins.object"]
        approve(ws, "selector:1")
        ws.endpoints.deploy("selector:1")
        assert ws.endpoints.version_spec("selector", 1).trusted_types == ("builtins.object",)
        X = _frame(25, 7)
        body = {"inputs": [{"name": "a", "datatype": "FP64", "shape": [25], "data": X["a"].tolist()},
                           {"name": "b", "datatype": "FP64", "shape": [25], "data": X["b"].tolist()},
                           {"name": "c", "datatype": "BYTES", "shape": [25], "data": X["c"].tolist()}]}
        with ServerThread(build_gateway(ws), free_port()) as srv:
            r = httpx.post(f"{srv.url}/v2/models/selector/infer", json=body, timeout=30)
        assert r.status_code == 200, r.text
        out = {o["name"]: o for o in r.json()["outputs"]}
        assert out["predict"]["data"] == model.predict(X).tolist()
        np.testing.assert_allclose(np.reshape(out["predict_proba"]["data"], (25, 2)), model.predict_proba(X))

    _set_trusted(root, [])  # revoked: the version no longer loads with the extra trust
    with Workspace.open(root, settings=settings) as ws:
        assert ws.endpoints.version_spec("selector", 1).trusted_types == ()


def test_trusted_types_must_be_dotted_type_names() -> None:
    from shipyard.config import parse_project

    assert parse_project({"trusted_types": ["builtins.object", "builtins.object"]}).trusted_types == [
        "builtins.object"]
    with pytest.raises(InvalidInputError) as err:
        parse_project({"trusted_types": ["builtins.object", "rm -rf"]})
    assert err.value.field == "trusted_types" and "trusted_types[1]" in str(err.value)


def test_api_registration_refuses_with_the_hint(tmp_path: Path) -> None:
    import base64

    from tests.api_harness import live_api

    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    artifact = tmp_path / "selector.skops"
    _selector_forest(artifact)
    with Workspace.init(tmp_path / "ws", settings=Settings(actor="alice")) as ws, live_api(ws) as api:
        r = httpx.post(f"{api.url}/api/v1/models/selector/versions", headers=api.headers("contributor"),
                       json={"flavor": "sklearn", "artifact": base64.b64encode(artifact.read_bytes()).decode()},
                       timeout=60)
        assert r.status_code == 422, r.text  # the API's status for input errors
        err = r.json()["error"]
        assert err["type"] == "UnsafeArtifactError" and err["field"] == "artifact"
        assert "found builtins.object" in err["message"] and "trusted_types" in err["message"]
