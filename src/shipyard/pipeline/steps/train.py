"""train: call the user's ``train(X, y, params)`` and save the fitted model through its flavor."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import traceback
from typing import Any

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.errors import TrainFunctionError


class TrainStep:
    name = "train"
    version = "1"

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        s = ctx.spec
        return {"split": ctx.outputs["split"]["split"], "code": ctx.train_digest, "function": s.train_function,
                "params": s.params, "flavor": s.flavor}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.pipeline.steps.split import split_frames
        from shipyard.serving.flavors import factory

        s = ctx.spec
        flavor = factory.create(s.flavor)
        X_train, y_train, _, _ = split_frames(ctx)
        fn = load_function(s.train_file, s.train_function)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                model = fn(X_train, y_train, dict(s.params))
        except Exception as exc:  # the user's code: any failure is theirs, reported with its traceback
            ctx.log(out.getvalue() + traceback.format_exc())
            raise TrainFunctionError(
                f"pipeline.train: {s.train_file.name}:{s.train_function} raised {type(exc).__name__}: {exc}",
                field="pipeline.train", value=f"{s.train_file.name}:{s.train_function}",
                expected="a function train(X, y, params) returning a fitted estimator") from None
        finally:
            if out.getvalue():
                ctx.log(out.getvalue())
        if model is None or not hasattr(model, "predict"):
            raise TrainFunctionError(field="pipeline.train", value=type(model).__name__,
                                     expected="train() to return a fitted estimator with predict()")
        data = flavor.dump(model)  # type: ignore[attr-defined]
        # Load it back as the gateway will: refuses now what serving would refuse later (untrusted types,
        # bad format), and evaluation then scores exactly the artifact that gets registered.
        loaded = flavor.load(data)
        digest = str(ctx.ws.artifacts.put_bytes(data))
        ctx.memo["model"] = loaded
        estimator = type(model).__module__ + "." + type(model).__name__
        ctx.log(f"trained {estimator} on {len(y_train)} rows; {s.flavor} artifact {len(data)} B sha256:{digest[:12]}")
        return {"model": digest, "size": len(data), "estimator": estimator}


def load_function(path: Any, name: str) -> Any:
    """Import ``name`` from the user's file (its folder first on sys.path for sibling imports)."""
    from shipyard.errors import InvalidInputError

    mod_name = f"shipyard_user_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise InvalidInputError(field="pipeline.train", value=str(path), expected="an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's module failed to import
        raise TrainFunctionError(f"pipeline.train: importing {path.name} failed: {type(exc).__name__}: {exc}",
                                 field="pipeline.train", value=str(path),
                                 expected="an importable Python file") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path.parent))
    fn = getattr(module, name, None)
    if not callable(fn):
        raise InvalidInputError(field="pipeline.train", value=f"{path.name}:{name}",
                                expected=f"a function named {name} in {path.name}")
    return fn
