"""MLflow models saved by real MLflow are imported without MLflow, served by the real gateway, and predict
exactly what ``mlflow.pyfunc.load_model(...).predict`` does on 1,000 rows; pickle flavors and MLmodel files
that ask for code-running trust are refused."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.builders import approve, free_port

pytest.importorskip("mlflow")
pytest.importorskip("xgboost")
pytest.importorskip("lightgbm")
# MLflow's own warnings (type hints, pickle advice, deprecations) are MLflow's business, not the import's.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning",
                                        "ignore::FutureWarning")

COLUMNS = [f"f{i}" for i in range(5)]


def _data(n: int, seed: int):  # type: ignore[no-untyped-def]
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(COLUMNS))), columns=COLUMNS)
    y = ((X["f0"] - 0.7 * X["f2"] + 0.5 * X["f3"] * X["f1"] + rng.normal(scale=0.4, size=n)) > 0).astype(int)
    return X, y


def save_models(root: Path) -> dict[str, Path]:
    """Real MLflow ``save_model`` calls, as a team would have them in its model registry."""
    import lightgbm
    import mlflow.lightgbm
    import mlflow.sklearn
    import mlflow.xgboost
    import skops.io as sio
    import xgboost
    from mlflow.models import Model, infer_signature
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _data(600, 1)
    paths = {k: root / k for k in ("sklearn", "xgboost", "lightgbm", "pickle")}
    hgb = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(X, y)
    # MLflow needs the tree types listed to save HGB with skops; shipyard ignores that list and checks itself.
    mlflow.sklearn.save_model(hgb, paths["sklearn"], serialization_format="skops",
                              skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(hgb)),
                              signature=infer_signature(X, hgb.predict(X)), input_example=X.head(3),
                              mlflow_model=Model(run_id="0123abcd", artifact_path="model"))
    xgb = xgboost.XGBClassifier(n_estimators=25, max_depth=3).fit(X, y)
    mlflow.xgboost.save_model(xgb, paths["xgboost"], signature=infer_signature(X, xgb.predict(X)))
    booster = lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 8}, lightgbm.Dataset(X, y), 25)
    mlflow.lightgbm.save_model(booster, paths["lightgbm"], signature=infer_signature(X, booster.predict(X)))
    mlflow.sklearn.save_model(hgb, paths["pickle"], serialization_format="cloudpickle")
    return paths


@pytest.fixture(scope="module")
def env(tmp_path_factory):  # type: ignore[no-untyped-def]
    from shipyard.config import Settings
    from shipyard.registry.mlflow_import import import_mlflow
    from shipyard.serving.server import ServerThread, build_gateway
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("mlflow")
    paths = save_models(root)
    ws = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    versions = {}
    for kind in ("sklearn", "xgboost", "lightgbm"):
        versions[kind] = mv = import_mlflow(ws.models, paths[kind], f"mlflow-{kind}")
        approve(ws, mv.ref)
        ws.endpoints.deploy(mv.ref)
    with ServerThread(build_gateway(ws), free_port()) as srv:
        yield {"url": srv.url, "ws": ws, "paths": paths, "versions": versions, "root": root}
    ws.close()


def _served(env, kind: str, X) -> dict:  # type: ignore[no-untyped-def]
    r = httpx.post(f"{env['url']}/v1/endpoints/mlflow-{kind}/predict", timeout=60,
                   json={"dataframe_split": {"columns": COLUMNS, "data": X.to_numpy().tolist()}})
    assert r.status_code == 200, r.text
    return dict(r.json())


@pytest.mark.parametrize("kind", ["sklearn", "xgboost", "lightgbm"])
def test_imported_model_serves_what_mlflow_pyfunc_predicts(env, kind: str) -> None:
    import mlflow.pyfunc

    X, _ = _data(1000, 7)
    expected = np.asarray(mlflow.pyfunc.load_model(str(env["paths"][kind])).predict(X))
    doc = _served(env, kind, X)
    if kind == "lightgbm":  # a Booster's pyfunc answers the positive class probability
        assert expected.dtype.kind == "f" and 0.0 < expected.min() < 0.5 < expected.max() < 1.0
        np.testing.assert_allclose(np.asarray(doc["probabilities"])[:, 1], expected, rtol=1e-12, atol=1e-12)
        assert doc["predictions"] == (expected > 0.5).astype(int).tolist()
    else:  # scikit-learn / XGBClassifier pyfuncs answer labels
        assert set(expected.tolist()) == {0, 1}
        assert doc["predictions"] == expected.tolist()


def test_import_keeps_signature_example_and_provenance(env) -> None:
    mv = env["ws"].models.get_version(env["versions"]["sklearn"].ref)
    assert mv.stage != "candidate"  # moved on by the test's approval; registered as candidate:
    history = env["ws"].models.get_version("mlflow-sklearn:1")
    assert history.flavor == "sklearn"
    sig = mv.signature
    assert [c["name"] for c in sig["inputs"]] == COLUMNS
    assert {c["type"] for c in sig["inputs"]} == {"float"} and not any(c["nullable"] for c in sig["inputs"])
    assert sig["input_example"]["columns"] == COLUMNS and len(sig["input_example"]["data"]) == 3
    src = mv.provenance["mlflow"]
    assert src["run_id"] == "0123abcd" and src["model_uri"] == "runs:/0123abcd/model"
    assert src["flavor"] == "sklearn" and src["skops_trusted_types_ignored"]
    assert "trusted_types" not in mv.provenance  # the MLmodel's list granted nothing
    xgb = env["ws"].models.get_version(env["versions"]["xgboost"].ref)
    assert xgb.flavor == "xgboost" and xgb.provenance["mlflow"]["model_uri"].startswith("file://")
    events = env["ws"].audit.log(action="model.register", subject="model:mlflow-lightgbm:1")
    assert len(events) == 1 and events[0].actor == "alice"


def test_stage_at_import_is_candidate(tmp_path) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from shipyard.config import Settings
    from shipyard.registry.mlflow_import import import_mlflow
    from shipyard.workspace import Workspace

    X, y = _data(200, 3)
    mlflow.sklearn.save_model(LogisticRegression().fit(X, y), tmp_path / "lr", serialization_format="skops")
    with Workspace.init(tmp_path / "ws", settings=Settings(actor="alice")) as ws:
        mv = import_mlflow(ws.models, tmp_path / "lr", "lr")
        assert mv.stage == "candidate" and mv.signature is not None  # from the estimator's feature names
        assert [c["name"] for c in mv.signature["inputs"]] == COLUMNS


def test_cloudpickle_model_is_refused_naming_skops(env) -> None:
    from shipyard.flavors.base import UnsafeArtifactError
    from shipyard.registry.mlflow_import import import_mlflow

    with pytest.raises(UnsafeArtifactError) as err:
        import_mlflow(env["ws"].models, env["paths"]["pickle"], "pickled")
    assert 'serialization_format="skops"' in str(err.value) and "cloudpickle" in str(err.value)
    from shipyard.registry.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError):  # nothing was registered
        env["ws"].models.get_model("pickled")


def _eval_model(root: Path, listed: list[str]) -> Path:
    """A pipeline whose skops file needs ``builtins.eval`` (a FunctionTransformer calling it)."""
    import builtins

    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = _data(100, 4)
    pipe = Pipeline([("f", FunctionTransformer(func=builtins.eval)), ("lr", LogisticRegression())])
    pipe.steps[1][1].fit(X, y)
    path = root / "eval"
    mlflow.sklearn.save_model(pipe, path, serialization_format="skops", skops_trusted_types=listed)
    return path


@pytest.mark.parametrize("listed", [["builtins.eval"], ["os.system"], ["subprocess.Popen"]])
def test_mlmodel_listing_a_dangerous_trusted_type_is_refused(env, listed: list[str]) -> None:
    from shipyard.flavors.base import UnsafeArtifactError
    from shipyard.registry.mlflow_import import import_mlflow

    path = _eval_model(env["root"] / listed[0], ["builtins.eval"])
    doc = (path / "MLmodel").read_text()
    (path / "MLmodel").write_text(doc.replace("- builtins.eval", f"- {listed[0]}"))
    with pytest.raises(UnsafeArtifactError) as err:
        import_mlflow(env["ws"].models, path, "evil")
    assert listed[0] in str(err.value) and "GHSA-w582-9x45-8mpx" in str(err.value)


def test_untrusted_type_in_the_artifact_is_found_by_shipyard_not_the_mlmodel(env) -> None:
    """The MLmodel lists nothing: shipyard's own scan still finds builtins.eval and refuses."""
    from shipyard.flavors.base import UnsafeArtifactError
    from shipyard.registry.mlflow_import import import_mlflow

    path = _eval_model(env["root"], ["builtins.eval"])  # MLflow itself refuses to save it without the list
    doc = (path / "MLmodel").read_text()
    (path / "MLmodel").write_text(doc.replace("skops_trusted_types:\n    - builtins.eval", "skops_trusted_types: null"))
    assert "builtins.eval" not in (path / "MLmodel").read_text()
    with pytest.raises(UnsafeArtifactError) as err:
        import_mlflow(env["ws"].models, path, "evil2")
    assert "builtins.eval" in str(err.value)


def test_cli_import_json_and_refusal_exit_codes(env, tmp_path) -> None:
    import os
    import subprocess
    import sys

    e = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")} | {"SHIPYARD_ACTOR": "alice"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(tmp_path / "ws"), *args],
                              env=e, capture_output=True, text=True, timeout=120)

    assert cli("init").returncode == 0
    ok = cli("models", "import-mlflow", str(env["paths"]["lightgbm"]), "lgb", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["flavor"] == "lightgbm" and doc["stage"] == "candidate" and doc["version"] == 1
    bad = cli("models", "import-mlflow", str(env["paths"]["pickle"]), "pk")
    assert bad.returncode == 2 and 'serialization_format="skops"' in bad.stderr and "Traceback" not in bad.stderr
    missing = cli("models", "import-mlflow", str(tmp_path / "nope"), "x")
    assert missing.returncode == 2 and "MLmodel" in missing.stderr
