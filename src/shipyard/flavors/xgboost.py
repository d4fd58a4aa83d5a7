"""XGBoost models in XGBoost's own JSON format (``save_model``), never pickle."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.flavors.base import (
    PICKLE_HEADERS,
    ArtifactFormatError,
    ArtifactInfo,
    UnsafeArtifactError,
    require_extra,
)
from shipyard.flavors.boosters import (
    as_categories,
    labels_from_scores,
    proba_from_scores,
)


def _require() -> Any:
    return require_extra("xgboost", "xgboost")


class XGBoostModel:
    """A loaded booster with a scikit-learn-like face (``predict``, ``predict_proba`` for classifiers)."""

    def __init__(self, booster: Any, objective: str) -> None:
        self.booster, self.objective = booster, objective
        self.classifier = objective.startswith(("binary:", "multi:"))
        names = booster.feature_names
        self.feature_names_in_ = np.array(names, dtype=object) if names else None
        if self.classifier:  # class indices, so the gateway serves probabilities (and the pipeline's labels)
            n = 2 if objective.startswith("binary:") else int(
                json.loads(booster.save_config())["learner"]["learner_model_param"]["num_class"])
            self.classes_ = np.arange(n)

    def _raw(self, X: Any) -> np.ndarray:
        import xgboost

        X = as_categories(X)
        # A matrix (the gateway's fast path for all-numeric signatures) carries no names; the booster checks
        # them, so name its columns in the booster's own order (the signature's order).
        names = None if hasattr(X, "columns") else self.booster.feature_names
        data = xgboost.DMatrix(X, enable_categorical=True, feature_names=names)
        return np.asarray(self.booster.predict(data))

    def predict_proba(self, X: Any) -> np.ndarray:
        return proba_from_scores(self._raw(X))

    def predict(self, X: Any) -> np.ndarray:
        return labels_from_scores(self._raw(X), self.classifier)


class XGBoostFlavor:
    name = "xgboost"

    def dump(self, model: Any) -> bytes:
        """XGBoost JSON of a fitted ``XGBModel`` or ``Booster``."""
        _require()
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        if not hasattr(booster, "save_raw"):
            raise ArtifactFormatError(field="model", value=type(model).__name__,
                                      expected="an xgboost.XGBModel or xgboost.Booster")
        return bytes(booster.save_raw("json"))

    def load(self, data: bytes, *, trusted_types: Iterable[str] = ()) -> XGBoostModel:
        xgboost = _require()
        if data[:2] in PICKLE_HEADERS:
            raise UnsafeArtifactError(field="artifact", value="<pickle>", expected="XGBoost JSON (save_model)")
        try:
            doc = json.loads(data)
            objective = doc["learner"]["objective"]["name"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactFormatError(field="artifact", value="<bytes>",
                                      expected=f"an XGBoost JSON model ({type(exc).__name__})") from None
        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        return XGBoostModel(booster, str(objective))

    def inspect(self, path: Path, *, trusted_types: Iterable[str] = ()) -> ArtifactInfo:
        model = self.load(Path(path).read_bytes())
        names = model.feature_names_in_
        return ArtifactInfo(feature_names=None if names is None else [str(n) for n in names],
                            classes=[0, 1] if model.objective.startswith("binary:") else None,
                            task="classification" if model.classifier else "regression",
                            details={"estimator": "xgboost.Booster", "objective": model.objective})
