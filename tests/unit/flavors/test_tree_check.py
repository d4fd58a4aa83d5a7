"""Tree safety: a fitted tree whose arrays were tampered with in the skops file is refused at load, naming
the estimator and the array; clean trees (forests, gradient boosting, HistGradientBoosting) load."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from shipyard.flavors.base import ArtifactFormatError, UnsafeArtifactError
from shipyard.flavors.sklearn import SklearnFlavor
from shipyard.flavors.tree_check import check_trees

RNG = np.random.default_rng(0)
X = pd.DataFrame({"a": RNG.normal(size=120), "b": RNG.normal(size=120), "c": RNG.choice(["x", "y"], 120)})
Y = ((X["a"] > 0) ^ (X["c"] == "x")).astype(int).to_numpy()


def _forest_pipeline() -> Pipeline:
    ct = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])], remainder="passthrough")
    return Pipeline([("features", ct), ("model", RandomForestClassifier(n_estimators=4, max_depth=4,
                                                                        random_state=0))]).fit(X, Y)


def _tamper_tree(tree: Any, field: str, node: int, value: Any) -> None:
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    if node < 0:  # the first split node
        node = int(np.flatnonzero(nodes["left_child"] != -1)[0])
    nodes[field][node] = value
    state["nodes"] = nodes
    tree.__setstate__(state)


def _load(model: Any) -> Any:
    """What the gateway does with a file: skops bytes -> SklearnFlavor.load."""
    return SklearnFlavor().load(bytes(sio.dumps(model)))


def test_clean_forest_pipeline_loads_and_predicts_the_same() -> None:
    model = _forest_pipeline()
    loaded = _load(model)
    assert check_trees(loaded) == 4
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_clean_gradient_boosting_and_hist_gradient_boosting_load() -> None:
    num = X[["a", "b"]].copy()
    num.iloc[::7, 0] = np.nan  # missing values: HGB uses +inf thresholds for "non-missing left" splits
    hgb = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(num, Y)
    gb = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X[["a", "b"]], Y)
    assert check_trees(_load(hgb)) == 5
    assert check_trees(_load(gb)) == 3
    # categorical splits (skops needs functools.partial for this model, which stays untrusted): checked in memory
    cat = HistGradientBoostingClassifier(max_iter=3, categorical_features="from_dtype").fit(
        X.astype({"c": "category"}), Y)
    assert any(p.nodes["is_categorical"].any() for row in cat._predictors for p in row)
    assert check_trees(cat) == 3


@pytest.mark.parametrize(("field", "node", "value", "array"), [
    ("left_child", 0, 10_000, "tree_.children_left"),          # beyond the node array
    ("right_child", -1, -5, "tree_.children_right"),           # negative, not a leaf
    ("left_child", -1, 0, "tree_.children_left"),              # points back at the root: a cycle
    ("feature", -1, 4, "tree_.feature"),                       # the forest sees 4 columns (0..3)
    ("feature", -1, -2, "tree_.feature"),
    ("threshold", -1, np.nan, "tree_.threshold"),
])
def test_tampered_forest_tree_is_refused_naming_estimator_and_array(field: str, node: int, value: Any,
                                                                   array: str) -> None:
    model = _forest_pipeline()
    _tamper_tree(model.steps[1][1].estimators_[3].tree_, field, node, value)
    with pytest.raises(UnsafeArtifactError) as err:
        _load(model)
    assert err.value.field == f"steps[1].estimators_[3].{array}"
    assert "steps[1].estimators_[3]" in str(err.value) and array in str(err.value)


def test_tree_feature_within_its_own_n_features_but_beyond_the_forest_is_refused() -> None:
    forest = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X[["a", "b"]], Y)
    forest.n_features_in_ = 1  # the forest checks X against 1 column, then hands it to trees reading column 1
    with pytest.raises(UnsafeArtifactError) as err:
        _load(forest)
    assert err.value.field is not None and err.value.field.startswith("estimators_[")


def _tamper_predictor(set_: Callable[[np.ndarray], None]) -> HistGradientBoostingClassifier:
    hgb = HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X[["a", "b"]], Y)
    nodes = hgb._predictors[2][0].nodes
    set_(nodes)
    return hgb


@pytest.mark.parametrize(("tamper", "array"), [
    (lambda n: n.__setitem__("left", np.where(n["is_leaf"] == 0, 4_000_000, n["left"])), "nodes.left"),
    (lambda n: n.__setitem__("right", np.where(n["is_leaf"] == 0, 0, n["right"])), "nodes.right"),
    (lambda n: n.__setitem__("feature_idx", np.where(n["is_leaf"] == 0, 7, n["feature_idx"])), "nodes.feature_idx"),
    (lambda n: n.__setitem__("num_threshold", np.where(n["is_leaf"] == 0, np.nan, n["num_threshold"])),
     "nodes.num_threshold"),
    (lambda n: n.__setitem__("is_categorical", np.where(n["is_leaf"] == 0, 1, 0)), "nodes.bitset_idx"),
])
def test_tampered_hist_gradient_boosting_predictor_is_refused(tamper: Callable[[np.ndarray], None],
                                                              array: str) -> None:
    with pytest.raises(UnsafeArtifactError) as err:
        _load(_tamper_predictor(tamper))
    assert err.value.field == f"_predictors[2][0].{array}"


def test_value_array_of_the_wrong_shape_in_the_file_is_refused() -> None:
    """Edit the skops zip itself: Tree.value's .npy gets one node less than node_count."""
    model = RandomForestClassifier(n_estimators=1, max_depth=2, random_state=0).fit(X[["a", "b"]], Y)
    data = bytes(sio.dumps(model))
    n = model.estimators_[0].tree_.node_count
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename.endswith(".npy"):
                arr = np.load(io.BytesIO(content), allow_pickle=False)
                if arr.ndim == 3 and arr.shape[0] == n:
                    buf = io.BytesIO()
                    np.save(buf, arr[:-1], allow_pickle=False)
                    content = buf.getvalue()
            dst.writestr(info, content)
    with pytest.raises((UnsafeArtifactError, ArtifactFormatError), match="value|shape"):
        SklearnFlavor().load(out.getvalue())
