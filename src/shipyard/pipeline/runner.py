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
from shipyard.errors import CheckFailedError
from shipyard.pipeline.cache import StepCache, cache_key
from shipyard.pipeline.context import RunContext
from shipyard.pipeline.runs import RunLog, StepRecord
from shipyard.pipeline.spec import resolve

if TYPE_CHECKING:
    from shipyard.workspace import Workspace

Event = Callable[[str, str, "StepRecord | None"], None]  # (kind: start|done, step name, record)


@dataclass
class RunResult:
    run_id: str
    status: str  # succeeded | rejected | failed
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

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "succeeded" else 1

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
                "task_inferred": self.task_inferred, "classes": self.classes, "positive": self.positive}


def file_digest(path: Path) -> str:
    with path.open("rb") as fh:
        return str(sha256_stream(fh))


def run_pipeline(ws: Workspace, *, force: bool = False, executor: str = "local", report_dir: Path | None = None,
                 on_event: Event | None = None) -> RunResult:
    """Run validate -> split -> train -> evaluate -> gate -> register.

    Returns the result for success, gate failure (version registered as rejected) and validation failure
    (nothing trained; run recorded as failed). Raises ``ShipyardError`` for bad config or input (the run
    is recorded as failed first).
    """
    from shipyard.pipeline.executors import factory
    from shipyard.pipeline.steps import pipeline_steps
    from shipyard.registry.provenance import git_info

    spec = resolve(ws.root, ws.config)
    runner = factory.create(executor)
    ctx = RunContext(ws=ws, spec=spec, run_id=uuid.uuid4().hex[:16], data_digest=file_digest(spec.data_path),
                     train_digest=file_digest(spec.train_file))
    runs, cache = RunLog(ws.db, ws.actor, ws.clock), StepCache(ws.db, ws.clock)
    runs.start(ctx.run_id, spec.model, git_info(ws.root), ws.config.model_dump(mode="json", by_alias=True))
    result = RunResult(run_id=ctx.run_id, status="failed", model=spec.model)
    emit = on_event or (lambda kind, name, rec: None)
    try:
        for step in pipeline_steps():
            key = cache_key(step.name, step.version, step.key_inputs(ctx))
            hit = None if force else cache.get(key)
            if hit is not None:
                rec = StepRecord(step.name, key, True, "succeeded", 0.0, hit, "cache hit")
            else:
                emit("start", step.name, None)
                ex = runner.execute(step, ctx)
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
    except CheckFailedError as exc:
        report = getattr(exc, "report", None)
        result.validation, result.error = report, str(exc)
        runs.finish(ctx.run_id, "failed", {"model": spec.model, "error": str(exc), "validation": report})
        return result
    except BaseException as exc:
        runs.finish(ctx.run_id, "failed", {"model": spec.model, "error": f"{type(exc).__name__}: {exc}"})
        raise
    reg, gate, split = ctx.outputs["register"], ctx.outputs["gate"], ctx.outputs["split"]
    result.task, result.task_inferred = split.get("task"), spec.task is None
    result.classes, result.positive = split.get("classes"), split.get("positive")
    result.status = "succeeded" if gate["passed"] else "rejected"
    result.version, result.stage, result.reports = int(reg["version"]), reg["stage"], dict(reg["reports"])
    result.gates = list(gate["results"])
    dest = report_dir or ws.root / ".shipyard" / "reports" / spec.model / str(result.version)
    write_reports(ws, result.reports, dest, ctx.memo.get("report_files") or {})
    result.report_dir = str(dest)
    runs.finish(ctx.run_id, result.status, {"model": spec.model, "version": result.version, "stage": result.stage,
                                            "executed": result.executed, "cached": result.cached})
    return result


def write_reports(ws: Workspace, reports: dict[str, str], dest: Path, fresh: dict[str, bytes]) -> None:
    """Copy the version's report artifacts to a local folder (only what is missing)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in reports.items():
        target = dest / name
        if target.exists() and file_digest(target) == digest:
            continue
        data = fresh.get(name) or ws.artifacts.get_bytes(Digest(digest))
        tmp = dest / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(target)
