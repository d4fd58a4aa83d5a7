"""A multi-class target through the whole pipeline (the bundled wine example), on SQLite and PostgreSQL:
class-index encoding, multi-class metrics equal to scikit-learn's on the same split, confusion matrix and
per-class report, champion gates, the card, and clear errors for targets the pipeline cannot take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from shipyard.pipeline.runner import run_pipeline
from shipyard.workspace import Workspace

CLASSES = ["cultivar_1", "cultivar_2", "cultivar_3"]


@pytest.fixture
def wine_ws(example_ws) -> Workspace:  # type: ignore[no-untyped-def]
    return example_ws("wine")  # type: ignore[no-any-return]


def _reopen(ws: Workspace) -> Workspace:
    return Workspace.open(ws.root, settings=ws.settings)


def test_wine_runs_end_to_end_with_multiclass_metrics_equal_to_sklearn(wine_ws: Workspace) -> None:
    from shipyard.flavors import factory

    res = run_pipeline(wine_ws)
    assert res.status == "succeeded" and res.stage == "validated", res
    mv = wine_ws.models.get_version("wine-cultivar:1")
    ev, prov = mv.evaluation, mv.provenance
    assert ev["task"] == "multiclass" and prov["task"] == "multiclass" and prov["classes"] == CLASSES
    assert ev["main_metric"] == "roc_auc_ovr"
    # recompute on the same test rows with the registered artifact: our metrics are scikit-learn's
    frame = pd.read_csv(wine_ws.root / "data/wine.csv")
    import json

    from shipyard.core.hashing import Digest

    split = json.loads(wine_ws.artifacts.get_bytes(Digest(res_split_digest(wine_ws, res.run_id))))
    test = frame.iloc[split["test"]]
    y = np.array([CLASSES.index(v) for v in test.pop("cultivar")])
    model = factory.create(mv.flavor).load(wine_ws.models.load_artifact(mv.ref))
    proba = model.predict_proba(test)
    m = ev["metrics"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, proba.argmax(axis=1)))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, proba.argmax(axis=1), average="macro"))
    assert m["roc_auc_ovr"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))
    assert np.array(ev["confusion"]).sum() == len(y) and np.array(ev["confusion"]).shape == (3, 3)
    assert ev["per_class"]["support"] == np.bincount(y, minlength=3).tolist()
    assert "robustness_noise_drop" in m and ev["ci"]["roc_auc_ovr"][0] <= m["roc_auc_ovr"]
    html = (Path(res.report_dir) / "report.html").read_text()
    assert "Confusion matrix" in html and "Per class" in html and "cultivar_3" in html

    # served: the gateway answers with the labels, not the class indices the model was trained on
    assert mv.signature["outputs"] == [{"name": "prediction", "type": "string", "labels": CLASSES}]
    _serve_and_check_labels(wine_ws, test.head(7), [CLASSES[i] for i in proba[:7].argmax(axis=1)], proba[:7])

    # a champion: the next run is gated against it on a multi-class metric
    wine_ws.models.set_alias("wine-cultivar", "champion", 1)
    cfg = wine_ws.root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("C: 1.0", "C: 0.05"))
    ws2 = _reopen(wine_ws)
    try:
        res2 = run_pipeline(ws2)
        gate = next(g for g in ws2.models.get_version("wine-cultivar:2").evaluation["gates"]
                    if g["gate"].startswith("log_loss vs champion"))
        champ = ws2.models.get_version("wine-cultivar:2").evaluation["champion"]
        assert champ["ref"] == "wine-cultivar:1" and champ["metrics"]["log_loss"] == pytest.approx(m["log_loss"])
        assert gate["passed"] is (res2.stage == "validated")  # the only gate that can fail here
        assert "diff_ci" in champ and "roc_auc_ovr" in champ["diff_ci"]
    finally:
        ws2.close()


def _serve_and_check_labels(ws: Workspace, rows: pd.DataFrame, expected: list[str], proba: np.ndarray) -> None:
    import httpx
    from tests.builders import approve, free_port

    from shipyard.serving.server import ServerThread, build_gateway

    approve(ws, "wine-cultivar:1")
    ws.endpoints.deploy("wine-cultivar:1", "wine")
    with ServerThread(build_gateway(ws), free_port()) as srv:
        r = httpx.post(f"{srv.url}/v1/endpoints/wine/predict", json={"instances": rows.to_dict("records")})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["predictions"] == expected and doc["classes"] == CLASSES
        assert np.allclose(doc["probabilities"], proba)
        body = {"inputs": [{"name": c, "datatype": "FP64", "shape": [len(rows)], "data": rows[c].tolist()}
                           for c in rows.columns]}
        out = {o["name"]: o for o in httpx.post(f"{srv.url}/v2/models/wine/infer", json=body).json()["outputs"]}
        assert out["predict"]["datatype"] == "BYTES" and out["predict"]["data"] == expected
        meta = httpx.get(f"{srv.url}/v2/models/wine").json()
        assert meta["outputs"][0]["datatype"] == "BYTES" and meta["parameters"]["classes"] == CLASSES


def res_split_digest(ws: Workspace, run_id: str) -> str:
    from shipyard.pipeline.runs import RunLog

    rec = RunLog(ws.db, ws.actor, ws.clock).get(run_id)
    return next(s.outputs["split"] for s in rec.steps if s.name == "split")


def test_positive_label_with_many_classes_and_a_single_label_target_are_named(wine_ws: Workspace) -> None:
    from shipyard.errors import InvalidInputError

    cfg = wine_ws.root / "shipyard.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("  target: cultivar\n", "  target: cultivar\n  positive: cultivar_2\n"))
    ws = _reopen(wine_ws)
    try:
        with pytest.raises(InvalidInputError, match="data.positive") as err:
            run_pipeline(ws)
        assert "3 labels" in str(err.value) and err.value.expected.startswith("no data.positive")
    finally:
        ws.close()
    data = wine_ws.root / "data/wine.csv"
    frame = pd.read_csv(data)
    frame["cultivar"] = "cultivar_1"
    frame.to_csv(data, index=False)
    cfg.write_text(text)
    ws = _reopen(wine_ws)
    try:
        with pytest.raises(InvalidInputError, match="at least 2 labels"):
            run_pipeline(ws)
    finally:
        ws.close()


def test_an_integer_target_inferred_as_regression_says_how_to_make_it_classes(wine_ws: Workspace) -> None:
    from shipyard.errors import InvalidInputError

    data = wine_ws.root / "data/wine.csv"
    frame = pd.read_csv(data)
    frame["cultivar"] = frame["cultivar"].str.removeprefix("cultivar_").astype(int)
    frame.to_csv(data, index=False)
    cfg = wine_ws.root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("  task: classification\n", ""))
    ws = _reopen(wine_ws)
    try:
        with pytest.raises(InvalidInputError, match="inferred as regression") as err:
            run_pipeline(ws)  # the example's classification metrics do not fit the inferred task
        assert "cultivar is numeric with 3 distinct values" in err.value.expected
        assert "set data.task: classification" in err.value.expected
    finally:
        ws.close()
    cfg.write_text(cfg.read_text().replace("  target: cultivar\n", "  target: cultivar\n  task: classification\n"))
    ws = _reopen(wine_ws)
    try:
        res = run_pipeline(ws)
        assert res.task == "multiclass" and not res.task_inferred and res.classes == ["1", "2", "3"]
        # the declared labels keep the target's integer type: the gateway answers 1 | 2 | 3, not "1"
        sig = ws.models.get_version(f"wine-cultivar:{res.version}").signature
        assert sig["outputs"] == [{"name": "prediction", "type": "integer", "labels": [1, 2, 3]}]
    finally:
        ws.close()

