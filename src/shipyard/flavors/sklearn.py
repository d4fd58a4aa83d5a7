"""scikit-learn models stored with skops: only types from trusted modules are ever loaded."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from shipyard.flavors.base import PICKLE_HEADERS, ArtifactFormatError, ArtifactInfo, UnsafeArtifactError

# Types whose module starts with one of these may be instantiated by skops; anything else
# (user classes, functools.partial, builtins.eval ...) makes the artifact refused.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "collections.", "lightgbm.", "xgboost.")


def _is_trusted(type_name: str) -> bool:
    return type_name.startswith(TRUSTED_PREFIXES)


def _untrusted(source: Any) -> tuple[list[str], list[str]]:
    import skops.io as sio

    try:
        if isinstance(source, bytes):
            types = sio.get_untrusted_types(data=source)
        else:
            types = sio.get_untrusted_types(file=source)
    except Exception as exc:  # skops raises zipfile/json/KeyError flavours for non-skops input
        raise ArtifactFormatError(
            field="artifact", value=str(source)[:80] if not isinstance(source, bytes) else "<bytes>",
            expected=f"a skops file written by skops.io.dump ({type(exc).__name__}: {exc})",
        ) from None
    bad = [x for x in types if not _is_trusted(x)]
    ok = [x for x in types if _is_trusted(x)]
    return ok, bad


class SklearnFlavor:
    name = "sklearn"

    def inspect(self, path: Path) -> ArtifactInfo:
        raw = Path(path).read_bytes()
        if raw[:2] in PICKLE_HEADERS or Path(path).suffix in (".pkl", ".pickle", ".joblib"):
            raise UnsafeArtifactError(
                field="artifact", value=str(path),
                expected="a skops file (skops.io.dump); pickle/joblib files are refused "
                "because loading them runs arbitrary code",
            )
        _, bad = _untrusted(raw)
        if bad:
            raise UnsafeArtifactError(
                field="artifact", value=str(path),
                expected="only scikit-learn/numpy/scipy types; untrusted types found: " + ", ".join(bad[:10]),
            )
        model = self.load(raw)
        names = getattr(model, "feature_names_in_", None)
        classes = getattr(model, "classes_", None)
        task = "classification" if hasattr(model, "predict_proba") and classes is not None else "regression"
        return ArtifactInfo(
            feature_names=[str(n) for n in names] if names is not None else None,
            classes=[c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else None,
            task=task,
            details={"estimator": type(model).__module__ + "." + type(model).__name__},
        )

    def dump(self, model: Any) -> bytes:
        """Serialise a fitted estimator with skops (the format ``load`` accepts)."""
        import skops.io as sio

        return bytes(sio.dumps(model))

    def load(self, data: bytes) -> Any:
        import skops.io as sio

        trusted, bad = _untrusted(data)
        if bad:
            raise UnsafeArtifactError(field="artifact", value="<bytes>",
                                      expected="only trusted types; found " + ", ".join(bad[:10]))
        return sio.load(io.BytesIO(data), trusted=trusted)
