"""`shipyard batch score REF --input URI --output DIR`: score files against a registered version (issue 19);
`shipyard batch list` / `batch show JOB`: the recorded jobs and their lineage."""

from __future__ import annotations

import sys
from typing import Any

import typer

from shipyard.cli.context import open_workspace

app = typer.Typer(help="Batch scoring over files.", no_args_is_help=True)


@app.command("score")
def score(
    ctx: typer.Context,
    ref: str = typer.Argument(..., metavar="NAME:VERSION|NAME@ALIAS", help="The model version to score with."),
    input_uri: str = typer.Option(..., "--input", help="A Parquet/CSV file or folder (local or s3://)."),
    output: str = typer.Option(..., "--output", help="Folder for the Parquet output, one part per input part."),
    engine: str = typer.Option("local", "--engine",
                               help="local, dask or ray (pip install 'shipyard[dask]' / 'shipyard[ray]')."),
    address: str | None = typer.Option(None, "--address",
                                       help="dask/ray: cluster address (default: start a local one)."),
    max_bad_rate: float = typer.Option(0.0, "--max-bad-rate",
                                       help="Largest fraction of rows allowed to fail the signature (exit 1 past it)."),
    chunk_rows: int = typer.Option(262_144, "--chunk-rows", min=1, help="Rows read and scored at a time."),
    monitor: str | None = typer.Option(None, "--monitor", metavar="ENDPOINT",
                                       help="Also log the rows to this endpoint's prediction log, for its monitors."),
    monitor_sample: float | None = typer.Option(None, "--monitor-sample",
                                                help="Share of rows logged with --monitor (default: "
                                                     "serving.log_sample_rate)."),
    as_json: bool = typer.Option(False, "--json", help="Print the job as JSON."),
) -> None:
    """Score every input part not already finished; bad rows go to _quarantine/ with a reason each."""
    from shipyard.batch.service import BadRateError, BatchService
    from shipyard.cli.output import out, print_json

    ws = open_workspace(ctx, local_only="reads files and the model from this workspace's store")
    bar: Any = None
    progress = None
    if not as_json and sys.stderr.isatty():
        from rich.progress import Progress

        bar = Progress(transient=True)
        task = bar.add_task("scoring", total=None)
        bar.start()

        def progress(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"scored {name}")
    try:
        res = BatchService(ws).score(ref, input_uri, output, engine=engine, max_bad_rate=max_bad_rate,
                                     chunk_rows=chunk_rows, address=address, progress=progress,
                                     monitor_endpoint=monitor, monitor_sample=monitor_sample)
    except BadRateError as exc:
        if as_json:
            print_json(exc.job.to_dict())  # scripts get the job too; the error and exit 1 follow
        raise
    finally:
        if bar is not None:
            bar.stop()
    if as_json:
        print_json(res.to_dict())
        return
    skipped = sum(1 for x in res.parts if x["skipped"])
    logged = "" if res.monitor is None else f"; {res.logged} rows logged to endpoint {res.monitor}"
    out(f"[green]scored[/] {res.rows} rows of {len(res.parts)} parts ({skipped} already done) with "
        f"{res.model}:{res.version} into {res.output}: {res.bad} bad rows quarantined{logged}; job {res.job} "
        f"recorded ({res.record[:12]})")


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", metavar="NAME[:VERSION]", help="Only this model's jobs."),
    status: str | None = typer.Option(None, "--status",
                                      help="running, succeeded, failed, error or interrupted."),
    limit: int = typer.Option(50, "--limit", help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recorded batch jobs, newest first."""
    from shipyard.batch.service import BatchService
    from shipyard.cli.output import out, print_json, table

    ws = open_workspace(ctx, local_only="reads the batch_jobs table of this workspace's store")
    rows = BatchService(ws).list(model, status, limit)
    if as_json:
        print_json(rows)
        return
    out(table(None, ["job", "model", "status", "rows", "bad", "seconds", "started", "engine", "output"],
          [[r["id"], f"{r['model']}:{r['version']}", r["status"], r["rows"], r["bad"], r["seconds"],
            r["started_at"], r["engine"], r["output"]] for r in rows]))


@app.command("show")
def show(
    ctx: typer.Context,
    job: str = typer.Argument(..., help="A job id (`shipyard batch list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A job with its lineage: each input part's URI and sha256 -> the version -> its output file."""
    from shipyard.batch.service import BatchService
    from shipyard.cli.output import out, print_json, table

    ws = open_workspace(ctx, local_only="reads the batch_jobs table of this workspace's store")
    rec = BatchService(ws).show(job)
    if as_json:
        print_json(rec)
        return
    logged = "" if not rec["monitor_endpoint"] else f", {rec['logged']} rows logged to {rec['monitor_endpoint']}"
    out(f"job {rec['id']}: {rec['status']} — {rec['model']}:{rec['version']} (sha256 {rec['digest'][:12]}) on "
        f"{rec['engine']} by {rec['actor']}, {rec['started_at']} -> {rec['finished_at'] or '…'}; "
        f"{rec['rows']} rows, {rec['bad']} bad{logged}; output {rec['output']}"
        + (f"; error: {rec['error']}" if rec["error"] else ""))
    out(table(None, ["input", "sha256", "output", "rows", "bad", "seconds", "scored by job"],
              [[x["input"], x["sha256"][:12], x["output"], x["rows"], x["bad"], x["seconds"],
                f"{x.get('job')} (earlier run)" if x.get("skipped") else x.get("job")] for x in rec["parts"]]))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="batch")
