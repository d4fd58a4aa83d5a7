"""LightGBM models as LightGBM's own model text (``model_to_string``), never pickle."""

from __future__ import annotations

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
    return require_extra("lightgbm", "lightgbm")


class LightGBMModel:
    """A loaded ``lightgbm.Booster`` with ``predict`` and, for classifiers, ``predict_proba``."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.objective = str(booster.params.get("objective") or booster.dump_model().get("objective", ""))
        self.classifier = self.objective.split()[0] in ("binary", "multiclass", "multiclassova", "cross_entropy")
        self.feature_names_in_ = np.array(booster.feature_name(), dtype=object)
        if self.classifier:  # class indices, so the gateway serves probabilities (and the pipeline's labels)
            multi = self.objective.split()[0].startswith("multiclass")
            self.classes_ = np.arange(booster.num_model_per_iteration() if multi else 2)

    def _raw(self, X: Any) -> np.ndarray:
        return np.asarray(self.booster.predict(as_categories(X)))

    def predict_proba(self, X: Any) -> np.ndarray:
        return proba_from_scores(self._raw(X))

    def predict(self, X: Any) -> np.ndarray:
        return labels_from_scores(self._raw(X), self.classifier)


class LightGBMFlavor:
    name = "lightgbm"

    def dump(self, model: Any) -> bytes:
        """LightGBM model text of a fitted ``LGBMModel`` or ``Booster``."""
        _require()
        booster = getattr(model, "booster_", model)
        if not hasattr(booster, "model_to_string"):
            raise ArtifactFormatError(field="model", value=type(model).__name__,
                                      expected="a fitted lightgbm.LGBMModel or lightgbm.Booster")
        return str(booster.model_to_string()).encode("utf-8")

    def load(self, data: bytes, *, trusted_types: Iterable[str] = ()) -> LightGBMModel:
        lightgbm = _require()
        if data[:2] in PICKLE_HEADERS:
            raise UnsafeArtifactError(field="artifact", value="<pickle>", expected="LightGBM model text")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if not text.startswith("tree"):
            raise ArtifactFormatError(field="artifact", value="<bytes>",
                                      expected="LightGBM model text (Booster.model_to_string)")
        return LightGBMModel(lightgbm.Booster(model_str=text))

    def inspect(self, path: Path, *, trusted_types: Iterable[str] = ()) -> ArtifactInfo:
        model = self.load(Path(path).read_bytes())
        return ArtifactInfo(feature_names=[str(n) for n in model.feature_names_in_],
                            classes=[0, 1] if model.objective.startswith("binary") else None,
                            task="classification" if model.classifier else "regression",
                            details={"estimator": "lightgbm.Booster", "objective": model.objective})
