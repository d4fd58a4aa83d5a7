"""`shipyard audit ...`: read, export and verify the hash-chained audit log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from shipyard.cli.context import open_workspace

if TYPE_CHECKING:
    from collections.abc import Iterable

app = typer.Typer(help="The hash-chained audit log: who changed what, when; verify it is intact.",
                  no_args_is_help=True)

ACTOR = typer.Option(None, "--actor", help="Only events by this principal.")
ACTION = typer.Option(None, "--action", help="Only this action; '*' wildcards (model.*).")
SUBJECT = typer.Option(None, "--subject", help="Only this subject; '*' wildcards (model:credit:*).")
SINCE = typer.Option(None, "--since", help="ISO date/time, or 30m, 24h, 7d ago.")


@app.command("log")
def log(ctx: typer.Context, actor: str | None = ACTOR, action: str | None = ACTION, subject: str | None = SUBJECT,
        since: str | None = SINCE, limit: int | None = typer.Option(None, "--limit", help="Only the newest N."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show audit events, oldest first."""
    from shipyard.cli.output import out, print_json, table

    events = open_workspace(ctx).audit.log(actor=actor, action=action, subject=subject, since=since, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in events])
        return

    def change(before: str | None, after: str | None) -> str:
        text = (before or "∅") + " → " + (after or "∅")
        return text if len(text) <= 90 else text[:89] + "…"

    out(table(None, ["seq", "time", "actor", "action", "subject", "change"],
              [[e.seq, e.time[:19], e.actor, e.action, e.subject, change(e.before, e.after)] for e in events]))


@app.command("export")
def export(ctx: typer.Context,
           jsonl: bool = typer.Option(True, "--jsonl", help="JSON lines, one event per line (the only format)."),
           output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE instead of stdout."),
           actor: str | None = ACTOR, action: str | None = ACTION, subject: str | None = SUBJECT,
           since: str | None = SINCE) -> None:
    """Export events with their hashes as JSON lines (for archiving or an external check)."""
    import sys

    lines = open_workspace(ctx).audit.export_jsonl(actor=actor, action=action, subject=subject, since=since)
    if output is None:
        for line in lines:
            sys.stdout.write(line)
        sys.stdout.flush()
        return
    n = _write_atomically(output, lines)
    from shipyard.cli.output import err

    err(f"wrote {n} event(s) to {output}")


def _write_atomically(output: Path, lines: Iterable[str]) -> int:
    """Write ``lines`` to a temporary file beside ``output`` and rename it: a failed export leaves no
    partial file. A path that cannot be written is a usage error naming --output."""
    import os
    import tempfile

    from shipyard.errors import InvalidInputError

    def refuse(problem: str) -> InvalidInputError:
        return InvalidInputError(field="--output", value=str(output),
                                 expected=f"a writable file path in an existing directory ({problem})")

    parent = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        raise refuse("it is a directory")
    if not parent.is_dir():
        raise refuse(f"{str(parent)!r} is not a directory" if parent.exists()
                     else f"directory {str(parent)!r} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise refuse(f"cannot create a file in {str(parent)!r}: {exc.strerror}") from None
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line)
                n += 1
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, output)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise refuse(f"writing failed: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n


@app.command("verify")
def verify(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
           require_keyed: bool = typer.Option(False, "--require-keyed",
                                              help="Fail unless every event is keyed with SHIPYARD_AUDIT_KEY.")) -> int:
    """Recompute the hash chain: exit 0 if intact, 1 naming the first bad event."""
    from shipyard.cli.output import err, out, print_json

    result = open_workspace(ctx).audit.verify(require_keyed=require_keyed)
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        keyed = (f"; keyed with SHIPYARD_AUDIT_KEY from event {result.keyed_from}" if result.keyed_from
                 else "; not keyed: set SHIPYARD_AUDIT_KEY to key new events")
        out(f"[green]ok[/]: audit log intact ({result.checked} event(s) verified){keyed}")
    elif result.needs_key:
        err(f"audit log NOT VERIFIED: {result.reason}")
    elif result.first_bad is None:
        err(f"audit log TAMPERED: {result.reason}")
    else:
        err(f"audit log TAMPERED: first bad event {result.first_bad}: {result.reason}")
    return 0 if result.ok else 1


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")
