"""register: render the reports and register the version (validated if every gate passed, else rejected)."""

from __future__ import annotations

from typing import Any

from shipyard.pipeline.context import RunContext

REPORT_FILES = ("report.json", "report.html", "junit.xml")


class RegisterStep:
    name = "register"
    version = "1"

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        o = ctx.outputs
        return {"model_name": ctx.spec.model, "model": o["train"]["model"], "flavor": ctx.spec.flavor,
                "evaluation": o["evaluate"]["evaluation"], "gates": o["gate"], "dataset": o["validate"]["dataset"],
                "dataset_digest": o["validate"]["dataset_digest"], "params": ctx.spec.params}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.core.hashing import Digest
        from shipyard.core.stages import Stage
        from shipyard.evaluation.reports.html import render_html
        from shipyard.evaluation.reports.json import build_report, dumps
        from shipyard.evaluation.reports.junit import render_junit
        from shipyard.registry.evidence import PIPELINE_RUN, GateRun
        from shipyard.registry.provenance import environment, git_info
        from shipyard.registry.signature import signature_from_schema

        s, o = ctx.spec, ctx.outputs
        key = ctx.keys.get(self.name)
        existing = _registered_with_key(ctx, key) if key else None
        if existing is not None:  # a run that crashed after registering, before caching this step
            ctx.log(f"{existing['model']}:{existing['version']} is already registered from the same inputs "
                    "(an earlier run stopped before recording it); reusing it")
            return existing
        passed = bool(o["gate"]["passed"])
        stage = Stage.VALIDATED if passed else Stage.REJECTED
        dv = ctx.ws.datasets.show(o["validate"]["dataset"])
        evaluation = ctx.memo.get("evaluation") or ctx.get_json(o["evaluate"]["evaluation"])
        validation = ctx.get_json(o["validate"]["report"])
        provenance = {
            "run_id": ctx.run_id,
            "datasets": [{"ref": dv.ref, "digest": dv.digest, "rows": dv.rows, "role": "train",
                          "source": _rel(s.data_path, s.root)}],
            "git": git_info(s.root),
            "params": s.params,
            "environment": environment(),
            "code": {"train": f"{_rel(s.train_file, s.root)}:{s.train_function}", "sha256": ctx.train_digest,
                     "modules": o["train"].get("modules") or {}},
            "register_key": key,
            "split": {**s.split, "train_rows": o["split"]["train_rows"], "test_rows": o["split"]["test_rows"]},
            "task": o["split"]["task"], "target": s.target, "positive": o["split"].get("positive"),
            "classes": o["split"].get("classes"),
            "steps": dict(ctx.timings),
            "estimator": o["train"]["estimator"],
        }
        task = o["split"]["task"]
        # Classifiers are trained on class indices; the declared output is the label of each index,
        # which the gateway answers with.
        output: dict[str, Any] = {"name": "prediction", "type": "float"}
        if task in ("classification", "multiclass"):
            output = _label_output(dv.schema, s.target, o["split"].get("classes") or [])
        signature = signature_from_schema(dv.schema, target=s.target, outputs=[output])
        report = build_report(model=s.model, run_id=ctx.run_id, stage=stage.value, passed=passed,
                              validation=validation, evaluation=evaluation, gates=o["gate"]["results"],
                              provenance=provenance, config=s.config.model_dump(mode="json", by_alias=True))
        files = {"report.json": dumps(report).encode("utf-8"),
                 "report.html": render_html(report).encode("utf-8"),
                 "junit.xml": render_junit(s.model, ctx.run_id, o["gate"]["results"]).encode("utf-8")}
        reports = {name: str(ctx.ws.artifacts.put_bytes(data)) for name, data in files.items()}
        ctx.memo["report_files"] = files
        failed = [r["gate"] for r in o["gate"]["results"] if not r["passed"]]
        # the gates ran in this process: the registry seals them as evidence (registry/evidence.py)
        gate_run = GateRun(PIPELINE_RUN, list(o["gate"]["results"]), run_id=ctx.run_id,
                           dataset={"ref": dv.ref, "digest": dv.digest})
        mv = ctx.ws.models.register(
            s.model, ctx.ws.artifacts.get_bytes(Digest(o["train"]["model"])), s.flavor, signature=signature,
            provenance=provenance, evaluation=_registry_evaluation(evaluation, o["gate"]["results"]),
            reports=reports, stage=stage, run_id=ctx.run_id,
            lineage=[{"kind": "dataset", "ref": dv.ref, "digest": dv.digest, "role": "train"},
                     {"kind": "run", "ref": ctx.run_id, "digest": None, "role": "produced_by"}],
            description="" if passed else "rejected by gates: " + "; ".join(failed), gate_run=gate_run,
        )
        ctx.log(f"registered {mv.ref} stage {mv.stage}")
        return {"model": mv.model, "version": mv.version, "stage": mv.stage, "reports": reports}


def _registered_with_key(ctx: RunContext, key: str) -> dict[str, Any] | None:
    """The outputs of a version of this model registered by a register step with the same cache key (same
    artifact, evaluation, gates, data and params), found through its provenance: makes the step idempotent
    when a crash lost its cache entry after the registry transaction committed."""
    from sqlalchemy import select

    from shipyard.store.sql import tables as t

    M, MV = t.models, t.model_versions
    with ctx.ws.db.read() as conn:
        rows = conn.execute(select(MV.c.version, MV.c.stage, MV.c.reports, MV.c.provenance)
                            .join(M, M.c.id == MV.c.model_id)
                            .where(M.c.name == ctx.spec.model, MV.c.artifact_digest == ctx.outputs["train"]["model"])
                            .order_by(MV.c.version)).all()
    for r in rows:
        if (r.provenance or {}).get("register_key") == key:
            return {"model": ctx.spec.model, "version": int(r.version), "stage": r.stage,
                    "reports": dict(r.reports or {})}
    return None


def _rel(path: Any, root: Any) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def _registry_evaluation(doc: dict[str, Any], gates: list[dict[str, Any]]) -> dict[str, Any]:
    """What the registry keeps inline: everything but the long curve arrays (those are in report.json)."""
    slim = {k: v for k, v in doc.items() if k not in ("curves", "residuals")}
    slim["gates"] = gates
    return slim


def _label_output(schema: dict[str, Any], target: str, classes: list[str]) -> dict[str, Any]:
    """The classifier's declared output: its labels (index order) typed like the target column, so a 0/1
    integer target is answered with 0/1, a text target with its text (the split keeps them as text)."""
    kind = next((c["type"] for c in schema.get("columns", []) if c["name"] == target), "string")
    convert: dict[str, Any] = {"integer": int, "float": float, "boolean": lambda v: v == "True"}
    try:
        labels = [convert[kind](c) for c in classes] if kind in convert else list(classes)
    except ValueError:  # a label that does not read back as the column's type: keep the text
        kind, labels = "string", list(classes)
    return {"name": "prediction", "type": kind if kind in convert else "string", "labels": labels}

