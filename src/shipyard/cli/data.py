"""`shipyard data ...`: add, list, show, diff, validate dataset versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shipyard.cli.context import open_workspace

app = typer.Typer(help="Version datasets by content; infer schema and profile; validate and diff.",
                  no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


def _schema_rows(schema: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for c in schema.get("columns", []):
        if c.get("categories") is not None:
            domain = ", ".join(map(str, c["categories"][:8])) + (" …" if len(c["categories"]) > 8 else "")
        elif c.get("min") is not None:
            domain = f"[{c['min']:g}, {c['max']:g}]"
        else:
            domain = ""
        rows.append([c["name"], c["type"], "yes" if c.get("nullable") else "no", domain])
    return rows


def _print_version(dv: Any, header: str) -> None:
    from shipyard.cli.output import out, table

    out(header)
    out(f"  version  {dv.name}@{dv.version}  sha256:{dv.digest[:12]}")
    out(f"  rows     {dv.rows}   columns {dv.columns}   format {dv.format}   size {dv.size_bytes} B")
    out(table("schema (allowed range widened from observed min/max; see docs)",
              ["column", "type", "nullable", "range / domain"], _schema_rows(dv.schema)))


@app.command("add")
def add(ctx: typer.Context, path: Path = typer.Argument(..., help="CSV or Parquet file."),
        name: str = typer.Option(..., "--name", "-n", help="Dataset name."), as_json: bool = JSON) -> None:
    """Add a dataset version (identical content returns the existing version)."""
    from shipyard.cli.output import print_json

    ws = open_workspace(ctx)
    dv = ws.datasets.add(path, name)
    if as_json:
        print_json(dv.to_dict(full=False) | {"schema": dv.schema})
        return
    header = "[green]created[/] new version" if dv.created else "[yellow]unchanged[/]: identical content is already"
    _print_version(dv, f"{header} {dv.name}@{dv.version}")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List datasets with their latest version."""
    from shipyard.cli.output import out, print_json, table

    items = open_workspace(ctx).datasets.list()
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    out(table(None, ["dataset", "latest", "rows", "columns", "sha256", "created"],
              [[i.name, i.latest_version, i.rows, i.columns, i.digest[:12], i.created_at[:19]] for i in items]))


@app.command("show")
def show(ctx: typer.Context, ref: str = typer.Argument(..., help="NAME or NAME@VERSION"), as_json: bool = JSON) -> None:
    """Show a dataset version: schema and profile."""
    from shipyard.cli.output import out, print_json, table

    dv = open_workspace(ctx).datasets.show(ref)
    if as_json:
        print_json(dv.to_dict())
        return
    _print_version(dv, f"dataset {dv.name}@{dv.version}  (added {dv.created_at[:19]} by {dv.created_by})")
    rows = []
    for name, p in dv.profile.get("columns", {}).items():
        top = ""
        if p.get("category_freqs"):
            top = ", ".join(f"{k} {v:.0%}" for k, v in list(sorted(p["category_freqs"].items(),
                                                                     key=lambda kv: -kv[1]))[:3])
        mean = "" if p.get("mean") is None else f"{p['mean']:.4g}"
        std = "" if p.get("std") is None else f"{p['std']:.4g}"
        rows.append([name, f"{p.get('null_rate', 0):.1%}", mean, std, top])
    out(table("profile", ["column", "nulls", "mean", "std", "top categories"], rows))


@app.command("diff")
def diff(ctx: typer.Context, a: str = typer.Argument(..., help="NAME@VERSION"),
         b: str = typer.Argument(..., help="NAME@VERSION"),
         threshold: float | None = typer.Option(
             None, "--threshold", help="One effect-size floor for every column instead of each method's own "
                                       "[default: validation.drift.threshold of shipyard.yaml, else per method]"),
         method: list[str] = typer.Option([], "--method", help="COLUMN=METHOD (wasserstein, ks, psi for numbers; "
                                                               "jensenshannon, chi2, psi for categories)"),
         fail_on_drift: bool = typer.Option(False, "--fail-on-drift", help="Exit 1 when a column has drifted."),
         as_json: bool = JSON) -> int:
    """Schema changes and per-column drift between two versions (the drift engine, from the stored profiles)."""
    import math

    from shipyard.cli.output import out, print_json, table
    from shipyard.errors import InvalidInputError

    ws = open_workspace(ctx)
    spec = ws.config.validation.drift
    if threshold is None:
        threshold = spec.threshold
    elif not math.isfinite(threshold) or threshold < 0:
        raise InvalidInputError(field="--threshold", value=threshold, expected="a finite number >= 0")
    methods = {**spec.methods, **parse_methods(method)}
    d = ws.datasets.diff(a, b, methods=methods or None, alpha=spec.alpha, threshold=threshold)
    drifted = d.drifted()
    if as_json:
        print_json({**d.to_dict(), "drifted": drifted})
    else:
        out(f"{a} ({d.rows_before} rows) → {b} ({d.rows_after} rows)")
        out(table(None, ["column", "change", "type before", "type after", "method", "score", "p-value", "drifted"],
                  [[c.column, c.change, c.before_type, c.after_type, c.test,
                    "" if c.shift is None else f"{c.shift:.4f}",
                    "" if c.p_value is None else f"{c.p_value:.2g}",
                    c.severity if c.drifted else ""] for c in d.columns]))
        out(f"drifted: {', '.join(drifted)}" if drifted else "no column drifted")
    return 1 if fail_on_drift and drifted else 0


def parse_methods(items: list[str]) -> dict[str, str]:
    """``--method COLUMN=METHOD`` options as a dict (exit 2 naming the option for a malformed one)."""
    from shipyard.errors import InvalidInputError

    methods = {}
    for item in items:
        column, sep, name = item.rpartition("=")
        if not sep or not column or not name:
            raise InvalidInputError(field="--method", value=item, expected="COLUMN=METHOD, e.g. Income=ks")
        methods[column] = name
    return methods


@app.command("validate")
def validate(ctx: typer.Context,
             ref: str = typer.Argument(..., help="Dataset NAME (or NAME@VERSION) whose schema to use"),
             path: Path = typer.Argument(..., help="CSV or Parquet file to check"), as_json: bool = JSON,
             missing_ok: bool = typer.Option(False, "--missing-ok",
                                             help="Exit 0 when the dataset has no version yet (a first CI run).")
             ) -> int:
    """Check a file against a dataset's schema; exit 1 listing every violation."""
    from shipyard.cli.output import out, print_json, table
    from shipyard.errors import NotFoundError

    ws = open_workspace(ctx)
    if missing_ok:
        try:
            ws.datasets.show(ref)
        except NotFoundError:
            if as_json:
                print_json({"dataset": ref, "ok": True, "skipped": "no version yet"})
            else:
                out(f"skipped: dataset {ref} has no version yet, so there is no schema to check {path} against")
            return 0
    report = ws.datasets.validate(ref, path)
    if as_json:
        print_json(report.to_dict())
    elif report.ok:
        out(f"[green]ok[/]: {path} ({report.rows} rows) matches the schema of {ref}")
    else:
        out(table(f"{len(report.violations)} violation(s) in {path} against {ref}",
                  ["column", "check", "failing", "expected", "examples"],
                  [[v.column, v.check, v.failing, v.expected, ", ".join(map(str, v.examples))]
                   for v in report.violations]))
    return 0 if report.ok else 1
