"""Run the pipeline: compute each step's cache key from cheap inputs, reuse cached outputs, execute the rest.

A re-run with nothing changed touches no data and imports no ML library: keys are hashes of files
and config, cache hits are database reads, and no artifact is loaded for a hit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.hashing import Digest, sha256_stream
from shipyard.errors import CheckFailedError, InvalidInputError, ShipyardError
from shipyard.pipeline.cache import StepCache, cache_key
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.runs import RunLog, StepRecord
from shipyard.pipeline.spec import RunSpec, check_columns, check_task, resolve

if TYPE_CHECKING:
    from shipyard.config import ExecutorSpec
    from shipyard.workspace import Workspace

Event = Callable[[str, str, "StepRecord | None"], None]  # (kind: start|done, step name, record)


@dataclass
class RunResult:
    run_id: str
    status: str  # succeeded | rejected | failed | interrupted
    model: str
    version: int | None = None
    stage: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, str] = field(default_factory=dict)
    report_dir: str | None = None
    validation: dict[str, Any] | None = None
    error: str | None = None
    task: str | None = None  # classification | multiclass | regression
    task_inferred: bool = False  # not set in data.task: inferred from the target
    classes: list[str] | None = None
    positive: str | None = None
    failure: dict[str, Any] | None = None  # the error's type, field, value, expected and message
    failure_exit: int | None = None  # the CLI's exit code for that error (2 input, 130 interrupted, 70 a bug)
    warnings: list[str] = field(default_factory=list)  # the evaluation's (too-small groups, ...)

    @property
    def exit_code(self) -> int:
        if self.status == "succeeded":
            return 0
        return self.failure_exit or 1

    @property
    def executed(self) -> list[str]:
        return [s.name for s in self.steps if not s.cached]

    @property
    def cached(self) -> list[str]:
        return [s.name for s in self.steps if s.cached]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": self.status, "model": self.model, "version": self.version,
                "stage": self.stage, "exit_code": self.exit_code, "executed": self.executed, "cached": self.cached,
                "steps": [{k: v for k, v in s.to_dict().items() if k != "log"} for s in self.steps],
                "gates": self.gates, "reports": self.reports, "report_dir": self.report_dir,
                "validation": self.validation, "error": self.error, "task": self.task,
                "task_inferred": self.task_inferred, "classes": self.classes, "positive": self.positive,
                "failure": self.failure, "warnings": self.warnings}


def stored_dataset(ws: Workspace, spec: RunSpec, ref: str) -> RunSpec:
    """``spec`` reading the bytes of dataset version ``ref`` (``NAME@VERSION`` or ``NAME:VERSION``), copied to
    ``.shipyard/datasets/``; validate finds that version again by its digest, so lineage names it."""
    import dataclasses

    dv = ws.datasets.show(ref.replace(":", "@", 1) if "@" not in ref else ref)
    path = ws.root / ".shipyard" / "datasets" / (dv.digest + (".parquet" if dv.format == "parquet" else ".data"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(ws.artifacts.get_bytes(Digest(dv.digest)))
        tmp.replace(path)
    return dataclasses.replace(spec, data_path=path, dataset=dv.name)


def file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return str(sha256_stream(fh))


def run_pipeline(ws: Workspace, *, force: bool = False, executor: str | ExecutorSpec | None = None,
                 report_dir: Path | None = None, on_event: Event | None = None,
                 dataset: str | None = None, isolation: str | None = None) -> RunResult:
    """Run validate -> split -> train -> evaluate -> gate -> register.

    Returns the result for success, gate failure (version registered as rejected) and validation failure
    (nothing trained; run recorded as failed). Raises ``ShipyardError`` for bad config or input (the run
    is recorded as failed first, and the exception carries the ``RunResult`` as ``run_result``, see
    :func:`run_result_of`). Columns, metrics and gates that do not fit the data are refused after
    validate/split, before anything trains. Runs left ``running`` by a process that died are marked
    ``interrupted`` first. ``executor`` (default: ``pipeline.executor``) is released when the run ends.
    ``isolation`` (default ``pipeline.isolation``): ``subprocess`` runs the steps that execute user code in a
    sandboxed child (``executors/isolated.py``), whatever the executor.
    """
    from shipyard.pipeline.executors import factory
    from shipyard.pipeline.steps import pipeline_steps
    from shipyard.registry.provenance import git_info

    runs, cache = RunLog(ws.db, ws.actor, ws.clock), StepCache(ws.db, ws.clock)
    runs.sweep()
    spec = resolve(ws.root, ws.config)
    if dataset is not None:  # train on a stored dataset version instead of data.train (monitor retrains)
        spec = stored_dataset(ws, spec, dataset)
    from shipyard.pipeline.executors.isolated import wrap

    inner = factory.create(executor if executor is not None
                           else ws.config.pipeline.executor if ws.config.pipeline is not None else "local")
    runner = wrap(inner, isolation or spec.isolation, ws.config.sandbox)
    ctx = RunContext(ws=ws, spec=spec, run_id=uuid.uuid4().hex[:16], data_digest=file_digest(spec.data_path),
                     train_digest=file_digest(spec.train_file))
    runs.start(ctx.run_id, spec.model, git_info(ws.root), ws.config.model_dump(mode="json", by_alias=True))
    result = RunResult(run_id=ctx.run_id, status="failed", model=spec.model)
    emit = on_event or (lambda kind, name, rec: None)
    try:
        check_report_dir(report_dir)
        for step in pipeline_steps():
            key = cache_key(step.name, step.version, step.key_inputs(ctx))
            ctx.keys[step.name] = key
            hit = None if force else cache.get(key)
            if hit is not None:
                rec = StepRecord(step.name, key, True, "succeeded", 0.0, hit, "cache hit")
            else:
                emit("start", step.name, None)
                ex = runner.execute(step, ctx)
                if ex.error is None and hasattr(step, "final_key_inputs"):
                    key = cache_key(step.name, step.version, step.final_key_inputs(ctx, ex.outputs or {}))
                    ctx.keys[step.name] = key
                rec = StepRecord(step.name, key, False, "failed" if ex.error else "succeeded", ex.seconds,
                                 ex.outputs, ex.log)
                if ex.error is not None:
                    runs.step(ctx.run_id, rec)
                    result.steps.append(rec)
                    emit("done", step.name, rec)
                    raise ex.error
                cache.put(key, step.name, ex.outputs or {})
            ctx.outputs[step.name] = rec.outputs or {}
            ctx.timings[step.name] = {"seconds": round(rec.duration_s, 4), "cached": rec.cached}
            runs.step(ctx.run_id, rec)
            result.steps.append(rec)
            emit("done", step.name, rec)
            _preflight(step.name, ctx, result)
        reg, gate = ctx.outputs["register"], ctx.outputs["gate"]
        result.status = "succeeded" if gate["passed"] else "rejected"
        result.version, result.stage, result.reports = int(reg["version"]), reg["stage"], dict(reg["reports"])
        result.gates = list(gate["results"])
        result.warnings = list(ctx.outputs.get("evaluate", {}).get("warnings") or [])
        dest = report_dir or ws.root / ".shipyard" / "reports" / spec.model / str(result.version)
        write_reports(ws, result.reports, dest, ctx.memo.get("report_files") or {},
                      "--report-dir" if report_dir is not None else "reports folder")
        result.report_dir = str(dest)
    except CheckFailedError as exc:
        report = getattr(exc, "report", None)
        result.validation, result.error = report, str(exc)
        result.failure = exc.to_dict()
        runs.finish(ctx.run_id, "failed", {"model": spec.model, "error": str(exc), "validation": report})
        return result
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        result.status = "interrupted" if interrupted else "failed"
        result.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ShipyardError) else str(exc)
        result.failure = exc.to_dict() if isinstance(exc, ShipyardError) else {"type": type(exc).__name__,
                                                                                "message": str(exc)}
        result.failure_exit = 130 if interrupted else 2 if isinstance(exc, ShipyardError) else 70
        runs.finish(ctx.run_id, result.status, {"model": spec.model, "error": f"{type(exc).__name__}: {exc}",
                                                "version": result.version, "stage": result.stage})
        if isinstance(exc, Exception):
            setattr(exc, RUN_RESULT, result)
        raise
    finally:
        factory.close(runner)  # a cluster the executor started stops with the run
    runs.finish(ctx.run_id, result.status, {"model": spec.model, "version": result.version, "stage": result.stage,
                                            "executed": result.executed, "cached": result.cached})
    return result


RUN_RESULT = "run_result"


def run_result_of(exc: BaseException) -> RunResult | None:
    """The recorded run an error from :func:`run_pipeline` ended (None when it failed before a run existed:
    a config error found by ``resolve``)."""
    found = getattr(exc, RUN_RESULT, None)
    return found if isinstance(found, RunResult) else None


def _preflight(step: str, ctx: RunContext, result: RunResult) -> None:
    """Checks that need the data but not a model: right after validate (columns, from the dataset version's
    schema) and split (the task), so a config that cannot work fails before training, naming its key."""
    if step == "validate":
        ref = ctx.outputs["validate"]["dataset"]
        schema = ctx.ws.datasets.show(ref).schema
        check_columns(ctx.spec, [c["name"] for c in schema.get("columns", [])], ref)
    elif step == "split":
        split = ctx.outputs["split"]
        result.task, result.task_inferred = split.get("task"), ctx.spec.task is None
        result.classes, result.positive = split.get("classes"), split.get("positive")
        check_task(ctx.spec, str(split["task"]), split.get("classes"), split.get("positive"), split.get("distinct"))


def check_report_dir(report_dir: Path | None) -> None:
    """``--report-dir`` must be (or be creatable as) a folder: checked before the run does any work."""
    if report_dir is None:
        return
    probe = report_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == report_dir else f"is inside {probe}, which is a file"
        raise InvalidInputError(f"--report-dir: {report_dir} {what}; expected a folder (created if missing)",
                                field="--report-dir", value=str(report_dir),
                                expected="a folder for the reports (created if missing)")


def write_reports(ws: Workspace, reports: dict[str, str], dest: Path, fresh: dict[str, bytes],
                  option: str = "reports folder") -> None:
    """Copy the version's report artifacts to a local folder (only what is missing).

    Raises:
        InvalidInputError: naming ``option`` when the folder cannot be created or written.
    """
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name, digest in reports.items():
            target = dest / name
            if target.is_file() and file_digest(target) == digest:
                continue
            data = fresh.get(name) or ws.artifacts.get_bytes(Digest(digest))
            tmp = dest / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.replace(target)
    except OSError as exc:
        raise InvalidInputError(f"{option}: cannot write the reports to {dest}: {exc.strerror or exc} (the version "
                                "is registered with its reports; rerun with a writable folder to copy them)",
                                field=option, value=str(dest), expected="a writable folder") from None
