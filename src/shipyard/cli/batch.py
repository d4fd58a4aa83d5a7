"""`shipyard batch score REF --input URI --output DIR`: score files against a registered version (issue 19)."""

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
    chunk_rows: int = typer.Option(65_536, "--chunk-rows", min=1, help="Rows read and scored at a time."),
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
                                     chunk_rows=chunk_rows, address=address, progress=progress)
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
    out(f"[green]scored[/] {res.rows} rows of {len(res.parts)} parts ({skipped} already done) with "
        f"{res.model}:{res.version} into {res.output}: {res.bad} bad rows quarantined; job {res.job} "
        f"recorded ({res.record[:12]})")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="batch")
