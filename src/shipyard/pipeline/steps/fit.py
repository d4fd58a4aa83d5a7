"""The user-code half of the train step: import the user's ``train(X, y, params)``, call it, serialise the model.

This is the only pipeline code that runs user code. ``TrainStep.run`` calls :func:`fit` in the ``shipyard
run`` process (``pipeline.isolation: none``); under ``subprocess`` the isolated executor calls
:func:`run_in_child` in a sandboxed child instead, and the step's parent half (``train.py``) only ever
sees the serialised bytes, which it loads through the flavor's safe path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard.pipeline.errors import TrainFunctionError

MODEL_FILE, X_FILE, Y_FILE = "model.bin", "X.parquet", "y.npy"
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TrainJob:
    """What calling the train function needs: plain values, so it crosses to a child as JSON."""

    root: str
    train_file: str
    function: str
    params: dict[str, Any]
    flavor: str

    @classmethod
    def of(cls, spec: Any) -> TrainJob:
        return cls(str(spec.root), str(spec.train_file), spec.train_function, dict(spec.params), spec.flavor)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def where(self) -> str:
        return f"{Path(self.train_file).name}:{self.function}"


def fit(job: TrainJob, X_train: Any, y_train: Any, log: Log) -> tuple[bytes, list[str], str]:
    """Call the user's train function and serialise what it returns with the job's flavor.

    Returns:
        (artifact bytes, the workspace module files the train file loaded, the estimator's type name).

    Raises:
        TrainFunctionError: the file does not import, the function raises, calls ``sys.exit`` or returns
            something without ``predict``.
    """
    from shipyard.flavors import factory
    from shipyard.pipeline.code import forget_local_modules, imported_files

    root, train_file = Path(job.root), Path(job.train_file)
    flavor = factory.create(job.flavor)
    roots = (root, train_file.parent)
    forget_local_modules(roots)
    try:
        with importable_siblings(train_file):  # also for an `import helpers` inside train() itself
            fn = load_function(train_file, job.function)
            model = _call(job, fn, X_train, y_train, log)
        files = imported_files(root, roots, train_file)
    finally:
        forget_local_modules(roots)
    if files:
        log("workspace modules in the cache key: " + ", ".join(files))
    if model is None or not hasattr(model, "predict"):
        raise TrainFunctionError(field="pipeline.train", value=type(model).__name__,
                                 expected="train() to return a fitted estimator with predict()")
    data = flavor.dump(model)  # type: ignore[attr-defined]
    return bytes(data), files, type(model).__module__ + "." + type(model).__name__


def run_in_child(job: dict[str, Any], work: Path, log: Log) -> dict[str, Any]:
    """In the sandboxed child: read the training rows the parent wrote to ``work``, fit, write the artifact
    to ``work/model.bin``; the answer carries the module files and the estimator's name (claims the parent
    checks, never trusts)."""
    import numpy as np
    import pyarrow.parquet as pq

    X = pq.read_table(work / X_FILE).to_pandas()
    y = np.load(work / Y_FILE, allow_pickle=False)
    data, files, estimator = fit(TrainJob(**job["train"]), X, y, log)
    (work / MODEL_FILE).write_bytes(data)
    return {"modules": files, "estimator": estimator}


def write_rows(work: Path, X_train: Any, y_train: Any) -> None:
    """The training rows for the child: Parquet with pandas metadata (dtypes and categories round-trip) and a
    ``.npy`` array (read back with ``allow_pickle=False``): nothing crosses as a pickle."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(X_train, preserve_index=False), work / X_FILE)
    np.save(work / Y_FILE, np.asarray(y_train), allow_pickle=False)


def _call(job: TrainJob, fn: Any, X_train: Any, y_train: Any, log: Log) -> Any:
    """``fn(X, y, params)`` with its output captured into the step log; any failure is the user's."""
    out = io.StringIO()
    where = job.where
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            return fn(X_train, y_train, dict(job.params))
    except SystemExit as exc:  # sys.exit() in user code ends the step, not shipyard
        log(out.getvalue() + traceback.format_exc())
        raise TrainFunctionError(
            f"pipeline.train: train function {where} called sys.exit({exc.code!r})", field="pipeline.train",
            value=where, expected="a function train(X, y, params) that returns a fitted estimator "
                                  "(raise an exception to fail)") from None
    except Exception as exc:  # the user's code: any failure is theirs, reported with its traceback
        log(out.getvalue() + traceback.format_exc())
        raise TrainFunctionError(
            f"pipeline.train: {where} raised {type(exc).__name__}: {exc}",
            field="pipeline.train", value=where,
            expected="a function train(X, y, params) returning a fitted estimator") from None
    finally:
        if out.getvalue():
            log(out.getvalue())


@contextlib.contextmanager
def importable_siblings(path: Any) -> Iterator[None]:
    """The user file's folder first on sys.path while it is imported and while its function runs."""
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def load_function(path: Any, name: str) -> Any:
    """Import ``name`` from the user's file (its folder first on sys.path for sibling imports)."""
    from shipyard.errors import InvalidInputError

    mod_name = f"shipyard_user_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise InvalidInputError(field="pipeline.train", value=str(path), expected="an importable Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        with importable_siblings(path):
            spec.loader.exec_module(module)
    except SystemExit as exc:
        raise TrainFunctionError(f"pipeline.train: importing {path.name} called sys.exit({exc.code!r})",
                                 field="pipeline.train", value=str(path),
                                 expected="an importable Python file") from None
    except Exception as exc:  # the user's module failed to import
        raise TrainFunctionError(f"pipeline.train: importing {path.name} failed: {type(exc).__name__}: {exc}",
                                 field="pipeline.train", value=str(path),
                                 expected="an importable Python file") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise InvalidInputError(field="pipeline.train", value=f"{path.name}:{name}",
                                expected=f"a function named {name} in {path.name}")
    return fn
