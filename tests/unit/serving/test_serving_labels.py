"""Class labels of pipeline-trained classifiers: typed like the target, recorded in the signature, answered
by the gateway in place of the class indices the model was trained on."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from shipyard.pipeline.steps.register import _label_output
from shipyard.rollout.endpoints import _labels
from shipyard.serving.runtime import make_predict
from shipyard.serving.signature import Rows, Signature


def _schema(kind: str) -> dict:
    return {"columns": [{"name": "x", "type": "float"}, {"name": "y", "type": kind}]}


@pytest.mark.parametrize(("kind", "classes", "labels", "out_type"), [
    ("integer", ["0", "1"], [0, 1], "integer"),
    ("integer", ["-1", "3", "7"], [-1, 3, 7], "integer"),
    ("float", ["0.0", "1.0"], [0.0, 1.0], "float"),
    ("boolean", ["False", "True"], [False, True], "boolean"),
    ("string", ["bad", "good"], ["bad", "good"], "string"),
    ("category", ["a", "b", "c"], ["a", "b", "c"], "string"),
])
def test_labels_are_typed_like_the_target_column(kind, classes, labels, out_type) -> None:
    out = _label_output(_schema(kind), "y", classes)
    assert out == {"name": "prediction", "type": out_type, "labels": labels}
    assert [type(v) for v in out["labels"]] == [type(v) for v in labels]


def test_a_label_that_does_not_read_back_as_the_column_type_keeps_the_text() -> None:
    assert _label_output(_schema("integer"), "y", ["1", "x"]) == {"name": "prediction", "type": "string",
                                                                  "labels": ["1", "x"]}


def test_the_gateway_takes_signature_labels_then_provenance_classes() -> None:
    sig = {"inputs": [], "outputs": [{"name": "prediction", "type": "integer", "labels": [0, 1]}]}
    assert _labels(sig, {"task": "classification", "classes": ["0", "1"]}) == [0, 1]
    old = {"inputs": [], "outputs": [{"name": "prediction", "type": "integer"}]}  # registered before labels
    assert _labels(old, {"task": "multiclass", "classes": ["a", "b", "c"]}) == ["a", "b", "c"]
    assert _labels(old, {"task": "regression"}) is None
    assert _labels(None, {}) is None


def _fitted(y: np.ndarray) -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2)) + y[:, None]
    return LogisticRegression().fit(X, y), X


SIG = Signature({"inputs": [{"name": "a", "type": "float"}, {"name": "b", "type": "float"}]})


def test_index_trained_model_answers_with_labels_and_same_probabilities() -> None:
    model, X = _fitted(np.repeat([0, 1, 2], 30))
    predict, classes = make_predict(model, SIG, ["red", "green", "blue"])
    out = predict(Rows(len(X), matrix=X))
    assert classes == ["red", "green", "blue"]
    assert out["predict"].tolist() == [["red", "green", "blue"][i] for i in model.predict(X)]
    assert np.array_equal(out["predict_proba"], model.predict_proba(X))


def test_labels_are_ignored_when_the_model_classes_are_not_indices() -> None:
    model, X = _fitted(np.repeat([1, 2], 45))  # classes_ [1, 2]: not 0..k-1, so the labels cannot be mapped
    predict, classes = make_predict(model, SIG, ["no", "yes"])
    assert classes == [1, 2] and predict(Rows(len(X), matrix=X))["predict"].tolist() == model.predict(X).tolist()
    typed, _ = make_predict(_fitted(np.repeat([0, 1], 45))[0], SIG, [False, True])
    assert typed(Rows(len(X), matrix=X))["predict"].dtype == np.bool_
