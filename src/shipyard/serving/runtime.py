"""A loaded model version: verified bytes -> flavor model -> a predict function over checked rows.

Loading verifies the artifact's sha256 (``ArtifactStore.get_bytes``) before the flavor sees a
byte. Prediction runs in a small dedicated thread pool whose threads are limited to one
BLAS/OpenMP thread each (threadpoolctl): single-row scikit-learn calls with the default OpenMP
pool stall for tens of milliseconds at p99, and the gateway gets its parallelism from batching
and from several calls side by side, not from threads inside one call.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.core.hashing import Digest
from shipyard.errors import ShipyardError
from shipyard.serving.http import ModelError
from shipyard.serving.signature import Rows, Signature
from shipyard.store.artifacts.base import ArtifactStore

log = logging.getLogger("shipyard.serving")

Outputs = dict[str, np.ndarray]


def _limit_threads() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    # Arrays fed by position to a model fitted on named columns: same order, by construction.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")


def make_executor(threads: int | None = None) -> ThreadPoolExecutor:
    """The prediction pool: ``threads`` (default: min(2, CPUs)) one-BLAS-thread workers."""
    n = threads or max(1, min(2, os.cpu_count() or 1))
    return ThreadPoolExecutor(max_workers=n, thread_name_prefix="shipyard-predict", initializer=_limit_threads)


def _needs_frame(model: Any) -> bool:
    """Pipelines and column transformers select columns by name: give them a DataFrame."""
    return hasattr(model, "steps") or hasattr(model, "transformers") or hasattr(model, "named_steps")


def _frame(rows: Rows, sig: Signature) -> Any:
    """The rows as a DataFrame with the signature's columns, in its order, in the dtypes it implies: float64;
    int64 and bool (float64 / object when a value is missing); object for text and categories."""
    import pandas as pd

    if rows.matrix is not None:
        if not sig.names:
            return pd.DataFrame(rows.matrix)
        data: dict[str, Any] = {}
        for j, col in enumerate(sig.columns):
            arr = rows.matrix[:, j]
            if col.type in ("integer", "boolean") and not np.isnan(arr).any():
                arr = arr.astype(np.int64 if col.type == "integer" else np.bool_)
            data[col.name] = arr
        return pd.DataFrame(data, copy=False)
    data = {}
    for col in sig.columns:
        vals = (rows.columns or {})[col.name]
        if col.type == "float" or (col.type == "integer" and any(v is None for v in vals)):
            data[col.name] = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        elif col.type == "integer":
            data[col.name] = np.array(vals, dtype=np.int64)
        elif col.type == "boolean" and not any(v is None for v in vals):
            data[col.name] = np.array(vals, dtype=np.bool_)
        else:
            data[col.name] = pd.Series(vals, dtype=object)
    return pd.DataFrame(data)


def _guard(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The model's method, with what it raises sorted: ValueError/TypeError mean it refused the rows (422);
    anything else is a bug in the model: a ModelError (500) carrying its message."""
    def call(X: Any) -> Any:
        try:
            return fn(X)
        except (ValueError, TypeError, ShipyardError):
            raise
        except Exception as exc:  # noqa: BLE001 - the model's own failure, reported as such
            raise ModelError(f"the model raised {type(exc).__name__}: {exc}", field="model",
                             value=type(exc).__name__, expected="a predict that returns") from exc
    return call


@dataclass
class LoadedVersion:
    """One model version ready to predict; shared by every endpoint that routes to it."""

    model: str
    version: int
    digest: str
    flavor: str
    signature: Signature
    raw_signature: dict[str, Any] | None
    predict: Callable[[Rows], Outputs] | None  # None when the version lives in the model process
    classes: list[Any] | None = None
    batcher: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    remote: tuple[Any, str] | None = None  # (ModelProcess, key)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.model, self.version, self.digest)


def make_predict(model: Any, sig: Signature, labels: list[Any] | None = None, frame: bool = False
                 ) -> tuple[Callable[[Rows], Outputs], list[Any] | None]:
    """A function rows -> {"predict": labels or values, ["predict_proba": probabilities]}.

    ``labels``: the name of each class index for a model trained on indices 0..k-1 (the pipeline's
    encoding); used only when the model's ``classes_`` are exactly those indices. ``frame``: always give
    the model a DataFrame (pyfunc's contract, as MLflow's), never a bare array.
    """
    names = getattr(model, "feature_names_in_", None)
    use_matrix = not frame and sig.numeric and not _needs_frame(model) and (
        names is None or [str(n) for n in names] == list(sig.names))
    if use_matrix and names is not None:
        # Columns arrive in signature order, which equals the fitted order: drop the private copy's
        # names so scikit-learn does not warn (and check) on every positional array.
        try:
            del model.feature_names_in_
        except AttributeError:
            pass
    classes = getattr(model, "classes_", None)
    has_proba = hasattr(model, "predict_proba") and classes is not None
    cls = np.asarray(classes) if classes is not None else None
    if cls is not None and labels and cls.tolist() == list(range(len(labels))):
        cls = np.asarray(labels)  # numbers, booleans or fixed-width text: all travel as raw bytes

    def to_input(rows: Rows) -> Any:
        if use_matrix and rows.matrix is not None:
            return rows.matrix
        return _frame(rows, sig)

    if has_proba:
        model_proba = _guard(model.predict_proba)

        def predict(rows: Rows) -> Outputs:
            proba = np.asarray(model_proba(to_input(rows)))
            return {"predict": cls[proba.argmax(axis=1)], "predict_proba": proba}  # type: ignore[index]
    else:
        model_predict = _guard(model.predict)

        def predict(rows: Rows) -> Outputs:
            return {"predict": np.asarray(model_predict(to_input(rows)))}
    return predict, (cls.tolist() if cls is not None else None)


def load_model(flavor: str, data: bytes, raw_signature: dict[str, Any] | None,
               labels: list[Any] | None = None, trusted_types: tuple[str, ...] | list[str] = ()) -> tuple[
        Callable[[Rows], Outputs], list[Any] | None, dict[str, Any]]:
    """Verified bytes -> (predict, classes, info), warmed up: first-call allocations and lazy imports
    happen now, not on a request. Runs in the gateway (thread mode) or in the model process."""
    from shipyard.flavors import factory

    model = factory.create(flavor).load(data, trusted_types=trusted_types)
    sig = Signature(raw_signature)
    predict, classes = make_predict(model, sig, labels, frame=flavor == "pyfunc")
    if sig.names:
        try:
            predict(_warm_up_row(sig))
        except Exception as exc:  # noqa: BLE001 - a model that rejects the made-up row is still servable
            log.debug("warm-up skipped: %s", exc)
    return predict, classes, {"estimator": type(model).__module__ + "." + type(model).__name__}


def _warm_up_row(sig: Signature) -> Rows:
    """One made-up row the signature accepts (zeros; a column's first category; empty text), so a pipeline's
    first real request does not pay its lazy set-up (measured: 30 ms first vs 8 ms after, credit example)."""
    if sig.numeric:
        return Rows(1, matrix=np.zeros((1, len(sig.names))))
    first: dict[str, Any] = {"float": 0.0, "integer": 0, "boolean": False}
    return Rows(1, columns={c.name: [sorted(c.categories, key=str)[0] if c.categories else first.get(c.type, "")]
                            for c in sig.columns})


def load_version(spec: Any, artifacts: ArtifactStore, process: Any = None) -> LoadedVersion:
    """Verify the artifact's hash, load it by flavor (here, or in the model ``process``), warm it up.

    Raises:
        ArtifactIntegrityError: the stored bytes do not hash to the recorded digest.
        ShipyardError: the flavor refuses the artifact.
    """
    fetch = functools.partial(artifacts.get_bytes, Digest(spec.digest))
    data = fetch()  # verifies sha256 before anything parses it
    sig = Signature(spec.signature)
    remote = None
    predict: Callable[[Rows], Outputs] | None
    if process is not None:
        key = f"{spec.model}:{spec.version}:{spec.digest[:16]}"
        trust = tuple(getattr(spec, "trusted_types", ()))
        # the bytes are not kept here: a new model process gets them from the store again (fetch), verified
        classes, info = process.load_threadsafe(key, spec.flavor, data, spec.signature, spec.labels, trust, fetch)
        del data
        predict = None
        remote = (process, key)
    else:
        predict, classes, info = load_model(spec.flavor, data, spec.signature, spec.labels,
                                            tuple(getattr(spec, "trusted_types", ())))
    lv = LoadedVersion(spec.model, spec.version, spec.digest, spec.flavor, sig, spec.signature, predict,
                       classes, info=info, remote=remote)
    log.info("loaded %s:%s (%s, sha256 %s verified%s)", spec.model, spec.version, spec.flavor, spec.digest[:12],
             ", in the model process" if process is not None else "")
    return lv
