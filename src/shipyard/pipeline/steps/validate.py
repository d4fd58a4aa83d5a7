"""validate: version the training file, check it against the previous version's schema, report drift."""

from __future__ import annotations

from typing import Any

from shipyard.pipeline.context import RunContext
from shipyard.pipeline.errors import ValidationFailedError

NEWEST_CHECKED = 5  # versions newer than the last validated one that newest_valid loads and checks


class ValidateStep:
    name = "validate"
    version = "1"

    def key_inputs(self, ctx: RunContext) -> dict[str, Any]:
        s = ctx.spec
        return {"data": ctx.data_digest, "dataset": s.dataset, "target": s.target, "validation": s.validation}

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from shipyard.data.readers import read_table

        s = ctx.spec
        table = read_table(s.data_path)
        if s.target not in table.column_names:
            from shipyard.errors import InvalidInputError

            raise InvalidInputError(field="data.target", value=s.target,
                                    expected="one of the columns: " + ", ".join(table.column_names))
        dv = ctx.ws.datasets.add(s.data_path, name=s.dataset)
        ctx.log(f"dataset {dv.ref} sha256:{dv.digest[:12]} ({dv.rows} rows){'' if dv.created else ' (existing)'}")
        ctx.memo["table"] = table
        report = {"dataset": dv.ref, "digest": dv.digest, "rows": dv.rows,
                  **check_version(ctx.ws.db, ctx.ws.datasets, s.dataset, dv.version, table, s.validation)}
        if report["previous"] is not None:
            ctx.log(f"validated against {report['previous']}: {len(report['violations'])} violation(s)")
        else:
            ctx.log("first version of the dataset: nothing to validate against; its schema becomes the reference")
        drifted = report.pop("drifted")
        digest = ctx.put_json(report)
        if not report["ok"]:
            what = (f"{len(report['violations'])} schema violation(s)" if report["violations"]
                    else f"drift in {', '.join(drifted)}")
            raise ValidationFailedError(
                f"validate: {s.data_path.name} ({dv.ref}) fails against {report['previous']}: {what}",
                {**report, "report_digest": digest})
        return {"dataset": dv.ref, "dataset_digest": dv.digest, "previous": report["previous"],
                "report": digest, "drifted": drifted}


def check_version(db: Any, datasets: Any, dataset: str, version: int, table: Any,
                  validation: dict[str, Any]) -> dict[str, Any]:
    """The validate step's rule for version ``version`` of ``dataset`` (its rows in ``table``): checked against
    the schema of its reference version (:func:`reference_version`), drift scored from the two profiles; not
    ``ok`` on a schema violation, or on drift under ``validation.fail_on_drift``.

    Returns:
        ``{"previous": ref | None, "ok", "violations": [...], "drift": {...} | None, "drifted": [columns]}``.
    """
    from shipyard.data.schema import DatasetSchema
    from shipyard.data.validation import validate_table

    report: dict[str, Any] = {"previous": None, "ok": True, "violations": [], "drift": None}
    ref_version = reference_version(db, dataset, version)
    if ref_version is not None:
        prev = datasets.show(f"{dataset}@{ref_version}")
        result = validate_table(table, DatasetSchema.from_dict(prev.schema))
        report["previous"] = prev.ref
        report["violations"] = [v.to_dict() for v in result.violations]
        report["ok"] = result.ok
        report["drift"] = _drift(datasets, prev.ref, f"{dataset}@{version}", validation.get("drift") or {})
    drifted = [d["column"] for d in (report["drift"] or {}).get("columns", []) if d.get("drifted")]
    if validation.get("fail_on_drift") and drifted:
        report["ok"] = False
    return {**report, "drifted": drifted}


def newest_valid(db: Any, datasets: Any, dataset: str, target: str | None, validation: dict[str, Any],
                 limit: int = NEWEST_CHECKED) -> tuple[Any, list[dict[str, Any]]]:
    """The newest version of ``dataset`` that passes the validate step's rule, for a training run nobody
    chose the data of (a monitor retrain): a version that passed a pipeline validation counts as is; a newer
    one is checked now (:func:`check_version`, plus the target column), at most ``limit`` of them, newest
    first. Falls back to the newest version that passed a pipeline validation.

    Returns:
        (the dataset version, ``[{"ref", "reason"}]`` for each newer version skipped).

    Raises:
        NotFoundError: no such dataset.
        CheckFailedError: no version passes (naming the ones checked and why).
    """
    from shipyard.errors import CheckFailedError

    versions = datasets.versions(dataset)
    passed = passed_versions(db, dataset)
    skipped: list[dict[str, Any]] = []
    for dv in list(reversed(versions))[:limit]:
        if dv.version in passed:
            return dv, skipped
        reason = _refusal(db, datasets, dv, target, validation)
        if reason is None:
            return dv, skipped
        skipped.append({"ref": dv.ref, "reason": reason})
    older = [dv for dv in versions if dv.version in passed]
    if older:
        return older[-1], skipped
    shown = "; ".join(f"{s['ref']}: {s['reason']}" for s in skipped)
    raise CheckFailedError(f"dataset: no version of {dataset} passes validation ({shown})", field="dataset",
                           value=dataset, expected="a dataset version that passes validation (`shipyard run`, "
                                                   "or name one in monitor.retrain.dataset)")


def _refusal(db: Any, datasets: Any, dv: Any, target: str | None, validation: dict[str, Any]) -> str | None:
    """Why ``dv`` fails the validate step's rule, or None when it passes."""
    table = datasets.load_table(dv.ref)
    if target is not None and target not in table.column_names:
        return f"no target column {target} (data.target)"
    report = check_version(db, datasets, dv.name, dv.version, table, validation)
    if report["ok"]:
        return None
    if report["violations"]:
        shown = ", ".join(f"{v['column']}: {v['check']} ({v['failing']} rows)" for v in report["violations"][:5])
        return f"{len(report['violations'])} schema violation(s) against {report['previous']}: {shown}"
    return f"drift against {report['previous']} in {', '.join(report['drifted'])} (validation.fail_on_drift)"


def passed_versions(db: Any, dataset: str) -> set[int]:
    """The versions of ``dataset`` that passed a pipeline validation (a succeeded validate step)."""
    from sqlalchemy import select

    from shipyard.store.sql import tables as t

    with db.read() as conn:
        rows = conn.execute(select(t.run_steps.c.outputs).where(t.run_steps.c.name == "validate",
                                                                t.run_steps.c.status == "succeeded")).all()
    passed = set()
    for (out,) in rows:
        name, _, v = str((out or {}).get("dataset", "")).rpartition("@")
        if name == dataset and v.isdigit():
            passed.add(int(v))
    return passed


def reference_version(db: Any, dataset: str, version: int) -> int | None:
    """The newest earlier version that passed a pipeline validation (a rejected file never becomes the
    reference); without any, the version just before this one."""
    earlier = [v for v in passed_versions(db, dataset) if v < version]
    if earlier:
        return max(earlier)
    return version - 1 if version > 1 else None


def _drift(datasets: Any, before: str, after: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The drift engine's verdict from the two stored profiles: the same rule as ``data diff`` and
    ``monitor drift`` (significance after Holm's correction and each method's effect-size floor)."""
    threshold = spec.get("threshold")
    alpha = float(spec.get("alpha", 0.05))
    diff = datasets.diff(before, after, methods=spec.get("methods") or None, alpha=alpha,
                         threshold=None if threshold is None else float(threshold))
    cols = [{"column": c.column, "change": c.change, "test": c.test, "shift": c.shift, "p_value": c.p_value,
             "severity": c.severity, "drifted": c.drifted} for c in diff.columns]
    return {"threshold": threshold, "alpha": alpha, "reference": before, "columns": cols}
