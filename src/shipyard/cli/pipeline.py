"""`shipyard run` (the pipeline) and `shipyard models card` (model cards)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from shipyard.cli.context import open_workspace


def register(app: typer.Typer) -> None:
    from shipyard.cli.models import app as models_app

    app.command("run")(run)
    models_app.command("card")(card)


def run(
    ctx: typer.Context,
    force: bool = typer.Option(False, "--force", help="Ignore the step cache: run every step."),
    junit: Path | None = typer.Option(None, "--junit", help="Write the gates as JUnit XML to PATH (for CI)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run result as JSON."),
    report_dir: Path | None = typer.Option(None, "--report-dir",
                                           help="Report folder (default .shipyard/reports/MODEL/VERSION)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Train on this stored dataset version (NAME@VERSION "
                                                                "or NAME:VERSION) instead of data.train."),
    isolation: str | None = typer.Option(None, "--isolation", help="Where the train step's user code runs: none "
                                         "(this process) | subprocess (a sandboxed child without the store's "
                                         "credentials or keys). Default: pipeline.isolation."),
    summary_md: list[Path] = typer.Option([], "--summary-md", help="Append the gate table as Markdown to PATH "
                                                                   "(repeatable; e.g. \"$GITHUB_STEP_SUMMARY\")."),
) -> None:
    """Validate, split, train, evaluate, gate, register. Exit 0: gates pass; 1: a gate or validation failed."""
    from shipyard.cli.output import console
    from shipyard.errors import ShipyardError
    from shipyard.pipeline.runner import run_pipeline, run_result_of

    ws = open_workspace(ctx, local_only="trains and registers in this workspace's store")
    con = console(stderr=as_json)
    status: list[Any] = []

    def on_event(kind: str, name: str, rec: Any) -> None:
        if kind == "start":
            status.append(con.status(f"[bold]{name}[/] running ...", spinner="dots"))
            status[-1].start()
            return
        if status:
            status.pop().stop()
        if rec.status == "failed":
            con.print(f"  [red]✗[/] {rec.name:<9} failed after {rec.duration_s:.2f}s")
        else:
            con.print(f"  [green]✓[/] {rec.name:<9} {'[dim]cache hit[/]' if rec.cached else f'{rec.duration_s:.2f}s'}")

    try:
        result = run_pipeline(ws, force=force, report_dir=report_dir, on_event=on_event, dataset=dataset,
                              isolation=isolation)
    except ShipyardError as exc:
        failed = run_result_of(exc)  # None when the config failed before a run existed
        if failed is not None:
            if junit is not None:
                _write_junit(ws, failed, junit)
            _append_summary(failed, summary_md)
            if as_json:
                from shipyard.cli.output import print_json

                print_json(failed.to_dict())  # status failed, exit_code 2, error, failure {field, ...}
            elif failed.task:
                con.print(task_line(failed))
        raise
    finally:
        while status:
            status.pop().stop()
    if junit is not None:
        _write_junit(ws, result, junit)
    _append_summary(result, summary_md)
    if as_json:
        from shipyard.cli.output import print_json

        print_json(result.to_dict())
    else:
        _render(result, con)
    ws.close()
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _append_summary(result: Any, paths: list[Path]) -> None:
    """Append the run's gate table (Markdown) to each path: GitHub's job summary file is appended to."""
    if not paths:
        return
    from shipyard.errors import InvalidInputError
    from shipyard.evaluation.reports.summary import render_summary

    text = render_summary(result)
    for path in paths:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise InvalidInputError(field="--summary-md", value=str(path),
                                    expected=f"a file this user can write ({exc.strerror or exc})") from None


def _write_junit(ws: Any, result: Any, path: Path) -> None:
    from shipyard.cli.output import write_file
    from shipyard.core.hashing import Digest

    if "junit.xml" in result.reports:
        write_file("--junit", path, ws.artifacts.get_bytes(Digest(result.reports["junit.xml"])))
        return
    from shipyard.evaluation.reports.junit import render_junit

    write_file("--junit", path,
               render_junit(result.model, result.run_id, [], validation_failure=result.error or "run failed"))


def _render(result: Any, con: Any) -> None:
    from shipyard.cli.output import table

    if result.cached and not result.executed:
        con.print(f"nothing changed: all {len(result.cached)} steps were cache hits ({', '.join(result.cached)})")
    elif result.cached:
        con.print(f"cache hits: {', '.join(result.cached)}; ran: {', '.join(result.executed)}")
    if result.validation is not None:
        v = result.validation
        con.print(f"[red]validation failed[/]: {v.get('dataset')} against {v.get('previous')}")
        if v.get("violations"):
            con.print(table("violations", ["column", "check", "failing", "examples", "expected"],
                            [[x["column"], x["check"], x["failing"], ", ".join(x["examples"]), x["expected"]]
                             for x in v["violations"]]))
        drifted = [d for d in (v.get("drift") or {}).get("columns", []) if d.get("drifted")]
        if drifted:
            con.print(table("drift", ["column", "test", "shift"], [[d["column"], d["test"], f"{d['shift']:.4f}"]
                                                                  for d in drifted]))
        con.print(f"run {result.run_id} failed at validate; nothing was trained or registered")
        return
    if result.gates:
        con.print(table("gates", ["gate", "value", "threshold", "result", "note"],
                        [[g["gate"], "-" if g["value"] is None else f"{g['value']:.4g}", f"{g['threshold']:g}",
                          "[green]pass[/]" if g["passed"] else "[red]FAIL[/]", g["note"]] for g in result.gates]))
    if result.task:
        con.print(task_line(result))
    from rich.markup import escape

    for w in result.warnings:
        con.print(f"[yellow]warning[/]: {escape(w)}")
    colour = "green" if result.status == "succeeded" else "red"
    verb = "already registered (nothing changed)" if "register" in result.cached else "registered"
    con.print(f"[{colour}]{result.model}:{result.version}[/] {verb}, stage [bold]{result.stage}[/] "
              f"(run {result.run_id})")
    if result.report_dir:
        con.print(f"reports: {result.report_dir}/report.html")


def task_line(result: Any) -> str:
    """What the target was taken as; an inferred task says how to change it."""
    classes = result.classes or []
    if result.task == "regression":
        what = "regression"
    else:
        shown = ", ".join(map(str, classes[:8])) + (", ..." if len(classes) > 8 else "")
        what = f"{result.task}: {len(classes)} classes ({shown})"
        if result.task == "classification" and result.positive is not None:
            what += f", positive '{result.positive}'"
    if result.task_inferred and result.task == "regression":
        what += " [dim](inferred from the numeric target; set data.task: classification if its values are classes)[/]"
    elif result.task_inferred:
        what += " [dim](inferred from the target)[/]"
    return f"task {what}"


def card(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS)"),
    out_dir: Path = typer.Option(Path("."), "-o", "--output", help="Folder for model-card.md and model-card.html."),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths as JSON."),
) -> None:
    """Write a model card (Markdown + HTML): intended use, data, metrics, slices, fairness, limitations, lineage."""
    from shipyard.cli.output import out, print_json, write_file
    from shipyard.errors import InvalidInputError
    from shipyard.evaluation.reports.card import render_card

    ws = open_workspace(ctx)
    mv = ws.models.get_version(ref)
    md, html = render_card(mv.to_dict(), ws.config.model_dump(mode="json", by_alias=True))
    ws.close()
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(field="--output", value=str(out_dir),
                                expected="a folder for model-card.md and model-card.html (this is a file)")
    paths = {"markdown": out_dir / "model-card.md", "html": out_dir / "model-card.html"}
    write_file("--output", paths["markdown"], md)
    write_file("--output", paths["html"], html)
    if as_json:
        print_json({"model": mv.model, "version": mv.version, **{k: str(v) for k, v in paths.items()}})
    else:
        out(f"model card for {mv.ref}: {paths['markdown']} and {paths['html']}")
