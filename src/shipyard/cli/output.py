"""The one rich Console, JSON output and small rendering helpers."""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@lru_cache(maxsize=2)
def console(stderr: bool = False) -> Console:
    import os

    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich's default exits 1 (our "a check failed" code); the CLI entry point answers it as SIGPIPE
            raise BrokenPipeError

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    return _Console(stderr=stderr, highlight=False, width=width)


def _default(o: Any) -> Any:
    if hasattr(o, "to_dict"):
        return o.to_dict()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def to_jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=_default))


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=_default, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()


def table(title: str | None, columns: list[str], rows: list[list[Any]], **kw: Any) -> Any:
    from rich.table import Table

    tbl = Table(title=title, title_justify="left", **kw)
    for c in columns:
        tbl.add_column(c)
    for r in rows:
        tbl.add_row(*["" if v is None else str(v) for v in r])
    return tbl


def out(*objs: Any) -> None:
    # A sentence is never broken into lines by us (the terminal wraps it; `grep` and scripts see it whole);
    # tables and panels are laid out to the console's width.
    console().print(*objs, soft_wrap=all(isinstance(o, str) for o in objs))


def err(message: str) -> None:
    console(stderr=True).print(message, markup=False, soft_wrap=True)


def write_file(option: str, path: Any, data: str | bytes) -> None:
    """Write a file the user named on the command line (creating its folder); an unwritable path is an
    input error naming the option, not a traceback."""
    from pathlib import Path

    from shipyard.errors import InvalidInputError

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"{option}: cannot write {p}: {exc.strerror or exc}", field=option, value=str(p),
                                expected="a writable file path (its folder is created if missing)") from None
