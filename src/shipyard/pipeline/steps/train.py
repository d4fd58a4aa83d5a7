"""train: call the user's ``train(X, y, params)`` (``fit.py``, in this process or a sandboxed child) and keep the
fitted model, loaded back through its flavor."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.errors import TrainFunctionError


class TrainStep:
    name = "train"
    version = "2"  # 2: the key covers the workspace modules train.py imports and the installed packages
    user_code = True  # runs the user's train function: a sandboxed child under pipeline.isolation: subprocess
    config_key = "pipeline.train"  # what an isolated run's time-out or crash is reported against
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
        """In this process: fit (user code) and keep the artifact."""
        from shipyard.pipeline.steps.fit import TrainJob, fit
        from shipyard.pipeline.steps.split import split_frames

        X_train, y_train, _, _ = split_frames(ctx)
        data, files, estimator = fit(TrainJob.of(ctx.spec), X_train, y_train, ctx.log)
        return self._keep(ctx, data, files, estimator, len(y_train))

    # -- pipeline.isolation: subprocess (pipeline/executors/isolated.py) ------------------------------------
    def write_inputs(self, ctx: RunContext, work: Path) -> dict[str, Any]:
        """Write the training rows to the private directory; the job names the child's entry point."""
        from shipyard.pipeline.steps.fit import TrainJob, write_rows
        from shipyard.pipeline.steps.split import split_frames

        X_train, y_train, _, _ = split_frames(ctx)
        write_rows(work, X_train, y_train)
        job = TrainJob.of(ctx.spec)
        return {"entry": "shipyard.pipeline.steps.fit:run_in_child", "train": job.to_dict(), "rows": len(y_train),
                "where": job.where}

    def read_outputs(self, ctx: RunContext, work: Path, job: dict[str, Any], answer: dict[str, Any]
                     ) -> dict[str, Any]:
        """The child's artifact and claims: module paths kept only when they name workspace files, the
        estimator name only when it is a dotted name; the artifact itself is loaded through its flavor."""
        from shipyard.pipeline.steps.fit import MODEL_FILE

        path = work / MODEL_FILE
        if not path.is_file():
            raise TrainFunctionError(field="pipeline.train", value=job["where"],
                                     expected="the sandboxed train step to write the fitted model")
        files = _workspace_files(ctx, answer.get("modules"))
        estimator = answer.get("estimator")
        if not isinstance(estimator, str) or not ESTIMATOR_RE.match(estimator):
            estimator = "unknown"
        return self._keep(ctx, path.read_bytes(), files, estimator, int(job["rows"]))

    def _keep(self, ctx: RunContext, data: bytes, files: list[str], estimator: str, rows: int) -> dict[str, Any]:
        """Load the artifact back as the gateway will: refuses now what serving would refuse later
        (untrusted types, bad format), and evaluation then scores exactly the artifact that gets registered."""
        from shipyard.flavors import factory
        from shipyard.pipeline.code import file_digests

        s = ctx.spec
        modules = file_digests(s.root, files)
        loaded = factory.create(s.flavor).load(data, trusted_types=ctx.ws.config.trusted_types)
        digest = str(ctx.ws.artifacts.put_bytes(data))
        ctx.memo["model"] = loaded
        ctx.log(f"trained {estimator} on {rows} rows; {s.flavor} artifact {len(data)} B sha256:{digest[:12]}")
        return {"model": digest, "size": len(data), "estimator": estimator, "modules": modules,
                "modules_of": modules_of(ctx)}


ESTIMATOR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,20}$")


def _workspace_files(ctx: RunContext, claimed: Any) -> list[str]:
    """The module files a child reported, kept only when each is a ``.py`` file under the workspace or the
    train file's folder (as ``imported_files`` writes them): the parent hashes them, so a claim cannot make it
    read anything else."""
    s = ctx.spec
    roots = (s.root.resolve(), s.train_file.parent.resolve())
    kept = []
    for rel in claimed if isinstance(claimed, list) else []:
        if not isinstance(rel, str) or not rel.endswith(".py"):
            continue
        path = (s.root / rel).resolve()
        if any(path.is_relative_to(r) for r in roots) and path.is_file():
            kept.append(rel)
    return sorted(set(kept))


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
