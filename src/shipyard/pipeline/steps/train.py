"""train: call the user's ``train(X, y, params)`` and save the fitted model through its flavor."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import traceback
from collections.abc import Iterator
from typing import Any

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.errors import TrainFunctionError


class TrainStep:
    name = "train"
    version = "2"  # 2: the key covers the workspace modules train.py imports and the installed packages
    portable = True  # needs only the spec, upstream outputs and the artifact store (executors/remote.py)

    def _base(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.pipeline.code import environment_fingerprint

        s = ctx.spec
        return {"split": ctx.outputs["split"]["split"], "code": ctx.train_digest, "function": s.train_function,
                "params": s.params, "flavor": s.flavor, "environment": environment_fingerprint()}

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        """The base inputs plus today's hashes of the module files the last run of this train file loaded."""
        from shipyard.pipeline.code import file_digests

        return {**self._base(ctx), "modules": file_digests(ctx.spec.root, recorded_modules(ctx))}

    def final_key_inputs(self, ctx: RunContext, outputs: dict[str, Any]) -> dict[str, Any]:
        """The key the outputs are stored under: the modules this run actually loaded (what the next run's
        ``key_inputs`` will hash, since this run records them)."""
        return {**self._base(ctx), "modules": outputs["modules"]}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.flavors import factory
        from shipyard.pipeline.steps.split import split_frames

        s = ctx.spec
        flavor = factory.create(s.flavor)
        X_train, y_train, _, _ = split_frames(ctx)
        from shipyard.pipeline.code import file_digests, forget_local_modules, imported_files

        roots = (s.root, s.train_file.parent)
        forget_local_modules(roots)
        try:
            with importable_siblings(s.train_file):  # also for an `import helpers` inside train() itself
                fn = load_function(s.train_file, s.train_function)
                model = _call(ctx, fn, X_train, y_train)
            files = imported_files(s.root, roots, s.train_file)
        finally:
            forget_local_modules(roots)
        modules = file_digests(s.root, files)
        if files:
            ctx.log("workspace modules in the cache key: " + ", ".join(files))
        if model is None or not hasattr(model, "predict"):
            raise TrainFunctionError(field="pipeline.train", value=type(model).__name__,
                                     expected="train() to return a fitted estimator with predict()")
        data = flavor.dump(model)  # type: ignore[attr-defined]
        # Load it back as the gateway will: refuses now what serving would refuse later (untrusted types,
        # bad format), and evaluation then scores exactly the artifact that gets registered.
        loaded = flavor.load(data, trusted_types=ctx.ws.config.trusted_types)
        digest = str(ctx.ws.artifacts.put_bytes(data))
        ctx.memo["model"] = loaded
        estimator = type(model).__module__ + "." + type(model).__name__
        ctx.log(f"trained {estimator} on {len(y_train)} rows; {s.flavor} artifact {len(data)} B sha256:{digest[:12]}")
        return {"model": digest, "size": len(data), "estimator": estimator, "modules": modules,
                "modules_of": modules_of(ctx)}


RECORD_LOOKBACK = 50  # train step records searched for the module list; none found -> a cache miss at worst


def modules_of(ctx: RunContext) -> str:
    """What a module list belongs to: this train file (path, content, function)."""
    from shipyard.core.hashing import sha256_json

    s, root = ctx.spec, ctx.spec.root.resolve()
    rel = s.train_file.relative_to(root).as_posix() if s.train_file.is_relative_to(root) else str(s.train_file)
    return str(sha256_json({"file": rel, "code": ctx.train_digest, "function": s.train_function}))


def recorded_modules(ctx: RunContext) -> list[str]:
    """The workspace module files the newest recorded train step of this train file loaded (executed or a
    cache hit, which repeats its outputs). Without a record the key has no modules: if this train file
    imports some, no entry can match that key, so the step runs and records them (a miss, never a stale hit)."""
    from sqlalchemy import select

    from shipyard.store.sql import tables as t

    me = modules_of(ctx)
    rs = t.run_steps
    with ctx.ws.db.read() as conn:
        rows = conn.execute(select(rs.c.outputs).where(rs.c.name == "train", rs.c.status == "succeeded")
                            .order_by(rs.c.id.desc()).limit(RECORD_LOOKBACK)).all()
    for (out,) in rows:
        if isinstance(out, dict) and out.get("modules_of") == me:
            return sorted(out.get("modules") or {})
    return []


def _call(ctx: RunContext, fn: Any, X_train: Any, y_train: Any) -> Any:
    """``fn(X, y, params)`` with its output captured into the step log; any failure is the user's."""
    s = ctx.spec
    out = io.StringIO()
    where = f"{s.train_file.name}:{s.train_function}"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            return fn(X_train, y_train, dict(s.params))
    except SystemExit as exc:  # sys.exit() in user code ends the step, not shipyard
        ctx.log(out.getvalue() + traceback.format_exc())
        raise TrainFunctionError(
            f"pipeline.train: train function {where} called sys.exit({exc.code!r})", field="pipeline.train",
            value=where, expected="a function train(X, y, params) that returns a fitted estimator "
                                  "(raise an exception to fail)") from None
    except Exception as exc:  # the user's code: any failure is theirs, reported with its traceback
        ctx.log(out.getvalue() + traceback.format_exc())
        raise TrainFunctionError(
            f"pipeline.train: {where} raised {type(exc).__name__}: {exc}",
            field="pipeline.train", value=where,
            expected="a function train(X, y, params) returning a fitted estimator") from None
    finally:
        if out.getvalue():
            ctx.log(out.getvalue())


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
