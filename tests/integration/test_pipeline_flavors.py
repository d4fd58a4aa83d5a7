"""Training outputs saved by flavor: skops, XGBoost JSON, LightGBM text round-trip; pickles are refused."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.flavors.base import ArtifactFormatError, UnsafeArtifactError
from shipyard.flavors.factory import create


@pytest.fixture(scope="module")
def credit(credit_csv: Path) -> tuple[pd.DataFrame, np.ndarray]:
    df = pd.read_csv(credit_csv).head(600)
    y = (df.pop("Status") == "bad").to_numpy().astype(int)
    return df, y


def _fit(flavor: str, X: pd.DataFrame, y: np.ndarray):  # type: ignore[no-untyped-def]
    cats = X.astype({c: "category" for c in X.columns if X[c].dtype.kind not in "biuf"})
    if flavor == "xgboost":
        import xgboost

        return xgboost.XGBClassifier(n_estimators=10, enable_categorical=True, n_jobs=1).fit(cats, y)
    if flavor == "lightgbm":
        import lightgbm

        return lightgbm.LGBMClassifier(n_estimators=10, verbose=-1, n_jobs=1).fit(cats, y)
    from sklearn.ensemble import HistGradientBoostingClassifier

    # numeric columns only: categorical_features="from_dtype" stores a functools.partial, which skops
    # (rightly) refuses to load
    return HistGradientBoostingClassifier(max_iter=10).fit(X.select_dtypes("number"), y)


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm"])
def test_dump_load_round_trip_predicts_the_same(flavor: str, credit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    X, y = credit
    model = _fit(flavor, X, y)
    fl = create(flavor)
    data = fl.dump(model)
    assert not data.startswith(b"\x80")  # never a pickle
    loaded = fl.load(data)
    cats = X.astype({c: "category" for c in X.columns if X[c].dtype.kind not in "biuf"})
    if flavor == "sklearn":
        cats = X = X.select_dtypes("number")
    expected = model.predict_proba(cats)[:, 1]
    got = loaded.predict_proba(X)[:, 1]
    assert np.allclose(expected, got, atol=1e-6)
    path = tmp_path / f"model.{flavor}"
    path.write_bytes(data)
    info = fl.inspect(path)
    assert info.task == "classification" and "Age" in (info.feature_names or [])


@pytest.mark.parametrize("flavor", ["sklearn", "xgboost", "lightgbm"])
def test_pickles_and_garbage_are_refused(flavor: str) -> None:
    fl = create(flavor)
    with pytest.raises((UnsafeArtifactError, ArtifactFormatError)):
        fl.load(pickle.dumps({"a": 1}))
    with pytest.raises(ArtifactFormatError):
        fl.load(b"not a model at all")


def test_unknown_flavor_names_the_choices() -> None:
    from shipyard.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="lightgbm | sklearn | xgboost"):
        create("onnx2")
