"""`shipyard monitor drift REF CUR`: the drift engine on files or dataset versions, as a table, JSON or HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Monitor data: drift between a reference and current data.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    from shipyard.cli.monitor_status import attach

    attach(app)  # monitor status / alerts (issue 16, endpoint monitors)
    root.add_typer(app, name="monitor")


@app.command("drift")
def drift(
    ctx: typer.Context,
    reference: str = typer.Argument(..., help="Reference: a CSV/Parquet file or a dataset version NAME@VERSION "
                                               "(its stored profile; the data is not reloaded)."),
    current: str = typer.Argument(..., help="Current data: a CSV/Parquet file or NAME@VERSION."),
    html: Path | None = typer.Option(None, "--html", help="Write a self-contained HTML report with a plot per column."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    method: list[str] = typer.Option([], "--method", help="COLUMN=METHOD (wasserstein, ks, psi for numbers; "
                                                           "jensenshannon, chi2, psi for categories); repeatable"),
    threshold: float | None = typer.Option(None, "--threshold", help="One effect-size floor for every column "
                                                                     "[default: each method's own]"),
    alpha: float | None = typer.Option(None, "--alpha", help="Family-wise error rate for Holm's correction "
                                                             "[default: validation.drift.alpha, 0.05]"),
    classifier: bool = typer.Option(False, "--classifier", help="Also train a domain classifier (multivariate "
                                                                "drift: AUC of telling the two apart)."),
    fail_on_drift: bool = typer.Option(True, "--fail-on-drift/--report-only",
                                       help="Exit 1 when a column (or the classifier) finds drift [default]."),
) -> int:
    """Which columns drifted from REF to CUR. Exit 0: no drift; 1: drift found; 2: bad input."""
    import math

    from shipyard.cli.data import parse_methods
    from shipyard.cli.output import console, out, print_json, table
    from shipyard.data.drift import compare_profiles
    from shipyard.errors import InvalidInputError
    from shipyard.monitoring.drift import is_file_spec, load_side

    if threshold is not None and (not math.isfinite(threshold) or threshold < 0):
        raise InvalidInputError(field="--threshold", value=threshold, expected="a finite number >= 0")
    if alpha is not None and not 0 < alpha < 1:
        raise InvalidInputError(field="--alpha", value=alpha, expected="a number between 0 and 1")
    methods = parse_methods(method)
    datasets, config_methods, config_alpha = None, {}, 0.05
    if not (is_file_spec(reference) and is_file_spec(current)):
        from shipyard.cli.context import open_workspace

        ws = open_workspace(ctx)
        datasets = ws.datasets
        spec = ws.config.validation.drift
        config_methods, config_alpha = dict(spec.methods), spec.alpha
        threshold = spec.threshold if threshold is None else threshold
    con = console(stderr=True)
    with con.status("reading and profiling the reference ...", spinner="dots") as status:
        ref = load_side(reference, datasets, field_name="REF", need_table=classifier)
        status.update("reading and profiling the current data ...")
        cur = load_side(current, datasets, field_name="CUR", need_table=classifier)
        status.update("comparing ...")
        applicable = {c: m for c, m in config_methods.items() if c in ref.profile.columns}
        result = compare_profiles(ref.profile, cur.profile, methods={**applicable, **methods},
                                  alpha=config_alpha if alpha is None else alpha, threshold=threshold)
        report: dict[str, Any] = {"reference": ref.label, "current": cur.label, **result.to_dict(),
                                  "rows": {"reference": ref.profile.rows, "current": cur.profile.rows}}
        if classifier:
            from shipyard.monitoring.classifier import domain_classifier

            status.update("training the domain classifier ...")
            assert ref.table is not None and cur.table is not None
            report["classifier"] = domain_classifier(ref.table, cur.table, list(result.pairs)).to_dict()
        if html is not None:
            from shipyard.monitoring.report import render, write

            status.update("writing the HTML report ...")
            write(html, render(report, result.pairs, reference=ref.label, current=cur.label))
    found = bool(report["drifted"]) or bool((report.get("classifier") or {}).get("drifted"))
    report["drift"] = found
    if as_json:
        print_json(report)
    else:
        out(f"{cur.label} ({cur.profile.rows} rows) against {ref.label} ({ref.profile.rows} rows)")
        out(table(None, ["column", "kind", "method", "score", "floor", "p-value", "drifted"],
                  [[name, c["kind"], c["method"], f"{c['score']:.4f}", f"{c['floor']:g}", f"{c['p_value']:.2g}",
                    c["severity"] if c["drifted"] else ""] for name, c in report["columns"].items()]))
        for name, why in report["skipped"].items():
            out(f"  not compared: {name} ({why})")
        if "classifier" in report:
            out(f"domain classifier AUC {report['classifier']['auc']:.3f}"
                f" ({'drift' if report['classifier']['drifted'] else 'no drift'})")
        share = report["share_drifted"]
        out(f"drifted: {', '.join(report['drifted'])} ({share:.0%} of columns)" if report["drifted"]
            else "no column drifted")
        if html is not None:
            out(f"report: {html}")
    return 1 if fail_on_drift and found else 0
