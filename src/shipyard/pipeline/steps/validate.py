"""validate: version the training file, check it against the previous version's schema, report drift."""

from __future__ import annotations

from typing import Any

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.errors import ValidationFailedError


class ValidateStep:
    name = "validate"
    version = "1"

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        s = ctx.spec
        return {"data": ctx.data_digest, "dataset": s.dataset, "target": s.target, "validation": s.validation}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.data.readers import read_table
        from shipyard.data.schema import DatasetSchema
        from shipyard.data.validation import validate_table

        s = ctx.spec
        table = read_table(s.data_path)
        if s.target not in table.column_names:
            from shipyard.errors import InvalidInputError

            raise InvalidInputError(field="data.target", value=s.target,
                                    expected="one of the columns: " + ", ".join(table.column_names))
        dv = ctx.ws.datasets.add(s.data_path, name=s.dataset)
        ctx.log(f"dataset {dv.ref} sha256:{dv.digest[:12]} ({dv.rows} rows){'' if dv.created else ' (existing)'}")
        ctx.memo["table"] = table
        report: dict[str, Any] = {"dataset": dv.ref, "digest": dv.digest, "rows": dv.rows, "previous": None,
                                  "ok": True, "violations": [], "drift": None}
        ref_version = _reference_version(ctx, s.dataset, dv.version)
        if ref_version is not None:
            prev = ctx.ws.datasets.show(f"{s.dataset}@{ref_version}")
            report["previous"] = prev.ref
            result = validate_table(table, DatasetSchema.from_dict(prev.schema))
            report["violations"] = [v.to_dict() for v in result.violations]
            report["ok"] = result.ok
            report["drift"] = _drift(ctx, prev.ref, dv.ref, s.validation.get("drift") or {})
            ctx.log(f"validated against {prev.ref}: {len(result.violations)} violation(s)")
        else:
            ctx.log("first version of the dataset: nothing to validate against; its schema becomes the reference")
        drifted = [d["column"] for d in (report["drift"] or {}).get("columns", []) if d.get("drifted")]
        if s.validation.get("fail_on_drift") and drifted:
            report["ok"] = False
        digest = ctx.put_json(report)
        if not report["ok"]:
            what = (f"{len(report['violations'])} schema violation(s)" if report["violations"]
                    else f"drift in {', '.join(drifted)}")
            raise ValidationFailedError(
                f"validate: {s.data_path.name} ({dv.ref}) fails against {report['previous']}: {what}",
                {**report, "report_digest": digest})
        return {"dataset": dv.ref, "dataset_digest": dv.digest, "previous": report["previous"],
                "report": digest, "drifted": drifted}


def _reference_version(ctx: RunContext, dataset: str, version: int) -> int | None:
    """The newest earlier version that passed a pipeline validation (a rejected file never becomes the
    reference); without any, the version just before this one."""
    from sqlalchemy import select

    from shipyard.store.sql import tables as t

    with ctx.ws.db.read() as conn:
        rows = conn.execute(select(t.run_steps.c.outputs).where(t.run_steps.c.name == "validate",
                                                                t.run_steps.c.status == "succeeded")).all()
    passed = set()
    for (out,) in rows:
        ref = (out or {}).get("dataset", "")
        name, _, v = ref.rpartition("@")
        if name == dataset and v.isdigit() and int(v) < version:
            passed.add(int(v))
    if passed:
        return max(passed)
    return version - 1 if version > 1 else None


def _drift(ctx: RunContext, before: str, after: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The drift engine's verdict from the two stored profiles: the same rule as ``data diff`` and
    ``monitor drift`` (significance after Holm's correction and each method's effect-size floor)."""
    threshold = spec.get("threshold")
    alpha = float(spec.get("alpha", 0.05))
    diff = ctx.ws.datasets.diff(before, after, methods=spec.get("methods") or None, alpha=alpha,
                                threshold=None if threshold is None else float(threshold))
    cols = [{"column": c.column, "change": c.change, "test": c.test, "shift": c.shift, "p_value": c.p_value,
             "severity": c.severity, "drifted": c.drifted} for c in diff.columns]
    return {"threshold": threshold, "alpha": alpha, "reference": before, "columns": cols}
