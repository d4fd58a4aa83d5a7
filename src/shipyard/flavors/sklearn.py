"""scikit-learn models stored with skops: only skops' defaults and a reviewed list of types are ever loaded.

Trust has three layers (docs/design.md, "Model formats: trust"):

1. skops' own defaults (scikit-learn estimators, numpy/scipy arrays and ufuncs, builtin containers):
   ``skops.io.get_untrusted_types`` reports every type a file needs beyond them.
2. ``REVIEWED_TYPES``: the few more types the models shipyard produces need, each with the reason it is
   safe; plus ``tree_check.TREE_TYPES`` (decision trees, HistGradientBoosting predictors), trusted only
   because every loaded tree's arrays are checked before the model is handed out.
3. The workspace's ``trusted_types:`` in shipyard.yaml, passed in by the caller: types a user reviewed
   and trusts on purpose. Registration records the ones a version needed (provenance and audit event),
   and only those are trusted when the version is loaded again.

Anything else (user classes, ``functools.partial``, ``builtins.eval`` ...) makes the artifact refused with
the types named and the hint to add them under ``trusted_types:``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shipyard.flavors.base import PICKLE_HEADERS, ArtifactFormatError, ArtifactInfo, UnsafeArtifactError
from shipyard.flavors.tree_check import TREE_TYPES, check_trees

# type -> why loading it from a file is safe (its state is plain data; constructing it runs no code of the file's)
REVIEWED_TYPES: dict[str, str] = {
    "numpy.dtype": "a dtype rebuilt from a .npy header (SimpleImputer._fit_dtype, encoders' dtype)",
    "sklearn.compose._column_transformer.make_column_selector":
        "scikit-learn's column selector: a regex pattern and dtype names applied to column names",
    "collections.OrderedDict": "a dict (LightGBM's scikit-learn wrapper keeps its parameters in one)",
    "lightgbm.basic.Booster": "restored from LightGBM's own model text by LightGBM's parser",
    "lightgbm.sklearn.LGBMClassifier": "LightGBM's scikit-learn wrapper around a Booster",
    "lightgbm.sklearn.LGBMRegressor": "LightGBM's scikit-learn wrapper around a Booster",
    "lightgbm.sklearn.LGBMRanker": "LightGBM's scikit-learn wrapper around a Booster",
    "xgboost.core.Booster": "restored from XGBoost's own binary model format by XGBoost's parser",
    "xgboost.sklearn.XGBClassifier": "XGBoost's scikit-learn wrapper around a Booster",
    "xgboost.sklearn.XGBRegressor": "XGBoost's scikit-learn wrapper around a Booster",
    "xgboost.sklearn.XGBRanker": "XGBoost's scikit-learn wrapper around a Booster",
}


def needed_types(data: bytes) -> list[str]:
    """The types a skops file needs beyond skops' defaults (``skops.io.get_untrusted_types``)."""
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises zipfile/json/KeyError flavours for non-skops input
        raise ArtifactFormatError(
            field="artifact", value="<bytes>",
            expected=f"a skops file written by skops.io.dump ({type(exc).__name__}: {exc})",
        ) from None


def refused_types(needed: Iterable[str], trusted_types: Iterable[str] = ()) -> list[str]:
    """The needed types that neither shipyard nor the workspace's ``trusted_types`` trusts."""
    allowed = set(REVIEWED_TYPES) | set(TREE_TYPES) | set(trusted_types)
    return sorted(t for t in needed if t not in allowed)


def _refuse(types: list[str], value: str) -> UnsafeArtifactError:
    shown = ", ".join(types[:10]) + (f" (and {len(types) - 10} more)" if len(types) > 10 else "")
    it = "it" if len(types) == 1 else "them"
    return UnsafeArtifactError(
        f"artifact: found {shown}, which skops and shipyard do not trust (loading an untrusted type can run "
        f"code); if you reviewed {it} and trust {it}, add {it} to trusted_types: in shipyard.yaml",
        field="artifact", value=value,
        expected="only types trusted by skops, shipyard or trusted_types: in shipyard.yaml; untrusted: " + shown)


class SklearnFlavor:
    name = "sklearn"

    def inspect(self, path: Path, *, trusted_types: Iterable[str] = ()) -> ArtifactInfo:
        raw = Path(path).read_bytes()
        if raw[:2] in PICKLE_HEADERS or Path(path).suffix in (".pkl", ".pickle", ".joblib"):
            raise UnsafeArtifactError(
                field="artifact", value=str(path),
                expected="a skops file (skops.io.dump); pickle/joblib files are refused "
                "because loading them runs arbitrary code",
            )
        user = set(trusted_types)
        needed = needed_types(raw)
        bad = refused_types(needed, user)
        if bad:
            raise _refuse(bad, Path(path).name)
        model = self._load(raw, needed)
        names = getattr(model, "feature_names_in_", None)
        classes = getattr(model, "classes_", None)
        task = "classification" if hasattr(model, "predict_proba") and classes is not None else "regression"
        details: dict[str, Any] = {"estimator": type(model).__module__ + "." + type(model).__name__}
        extra = sorted(t for t in needed if t in user and t not in REVIEWED_TYPES and t not in TREE_TYPES)
        if extra:  # what only the workspace's trusted_types made loadable
            details["trusted_types"] = extra
        return ArtifactInfo(
            feature_names=[str(n) for n in names] if names is not None else None,
            classes=[c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None,
            task=task,
            details=details,
        )

    def dump(self, model: Any) -> bytes:
        """Serialise a fitted estimator with skops (the format ``load`` accepts)."""
        import skops.io as sio

        return bytes(sio.dumps(model))

    def load(self, data: bytes, *, trusted_types: Iterable[str] = ()) -> Any:
        needed = needed_types(data)
        bad = refused_types(needed, trusted_types)
        if bad:
            raise _refuse(bad, "<bytes>")
        return self._load(data, needed)

    def _load(self, data: bytes, needed: list[str]) -> Any:
        """Load with exactly the (already allowed) ``needed`` types; trees are checked before use."""
        import skops.io as sio

        try:
            model = sio.load(io.BytesIO(data), trusted=needed)
        except Exception as exc:  # a damaged or hand-edited file: numpy, scikit-learn or skops refuse its state
            raise ArtifactFormatError(field="artifact", value="<bytes>",
                                      expected=f"a loadable skops file ({type(exc).__name__}: {str(exc)[:200]})"
                                      ) from None
        check_trees(model)  # always: should a later skops trust trees by default, they are still checked
        return model


def workspace_types_used(data: bytes, trusted_types: Iterable[str]) -> list[str]:
    """The types of a skops file that only the workspace's ``trusted_types`` make loadable (recorded and
    audited at registration; the only extra trust the version gets when loaded again)."""
    user = set(trusted_types)
    if not user:
        return []
    return sorted(t for t in needed_types(data) if t in user and t not in REVIEWED_TYPES and t not in TREE_TYPES)
