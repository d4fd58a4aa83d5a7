"""What the train step's cache key knows about code: the workspace modules train.py imported, and the
installed packages.

Rule (docs/design.md, step cache): the key covers the train file, every module file under the workspace
that was loaded when the train function last ran with that train file (a *depfile*, like ``make``'s
``-MD``: recorded in the train step's outputs after each run, re-hashed before the next), and a
fingerprint of the installed distributions (name + version of every ``*.dist-info`` on ``sys.path``)
and the Python version.

Why it is sound: an import can only change if a file that was imported changes (the import statements
live in those files), so when every recorded file hashes the same as when its entry was stored, the same
modules load again. A run that changes one of them misses, runs, and records the new set.

Not covered: files the train function reads that are not modules (``open("lookup.json")``), modules
outside the workspace that are not installed distributions (a ``PYTHONPATH`` folder, an editable install's
source), environment variables, and a new file that shadows an installed module of the same name.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

from shipyard.core.hashing import sha256_json, sha256_stream

SKIP_PARTS = frozenset({"__pycache__", "site-packages", "dist-packages"})


def _is_local(file: Path, roots: tuple[Path, ...], exclude: tuple[Path, ...]) -> bool:
    """A module file of the workspace: under a root (the workspace, the train file's folder), not in a hidden
    folder (``.venv``, ``.shipyard``), not in an installed-packages folder, not shipyard itself."""
    for root in roots:
        try:
            rel = file.relative_to(root)
        except ValueError:
            continue
        if any(part.startswith(".") or part in SKIP_PARTS for part in rel.parts[:-1]):
            return False
        return not any(file.is_relative_to(e) for e in exclude)
    return False


def _shipyard_dir() -> Path:
    import shipyard

    return Path(shipyard.__file__).resolve().parent


def local_modules(roots: tuple[Path, ...]) -> dict[str, Path]:
    """``{module name: file}`` for every loaded module whose file is a workspace module file."""
    roots, exclude = tuple(r.resolve() for r in roots), (_shipyard_dir(),)
    found: dict[str, Path] = {}
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None)
        if not file:
            continue
        try:
            path = Path(file).resolve()
        except (OSError, ValueError):
            continue
        if _is_local(path, roots, exclude):
            found[name] = path
    return found


def forget_local_modules(roots: tuple[Path, ...]) -> None:
    """Drop workspace modules from ``sys.modules`` (before and after the train step) so the train file
    imports today's source, not a copy an earlier run in this process loaded -- from this workspace or
    another one with a module of the same name."""
    for name in local_modules(roots):
        sys.modules.pop(name, None)


def file_digests(root: Path, files: list[str]) -> dict[str, str | None]:
    """``{path: sha256}`` of module files, relative to ``root`` or absolute (None for one that is gone)."""
    out: dict[str, str | None] = {}
    for rel in sorted(set(files)):
        try:
            with (root / rel).open("rb") as fh:
                out[rel] = str(sha256_stream(fh))
        except OSError:
            out[rel] = None
    return out


def imported_files(root: Path, roots: tuple[Path, ...], skip: Path) -> list[str]:
    """The workspace module files loaded now, minus ``skip``: relative to ``root`` (POSIX separators) when
    under it, else absolute."""
    root, skip = root.resolve(), skip.resolve()
    return sorted({p.relative_to(root).as_posix() if p.is_relative_to(root) else p.as_posix()
                   for p in local_modules(roots).values() if p != skip})


def environment_fingerprint() -> str:
    """sha256 of the Python version and every installed distribution's ``name-version`` (its dist-info
    folder name) on ``sys.path``; cheap (a directory listing per path entry, no metadata parsing). A folder
    inside an installed-packages folder is a package's private vendored copy, covered by the package's own
    version (``import ray`` adds ``ray/thirdparty_files``): skipped, so importing a library (an executor's
    cluster client) does not change the fingerprint."""
    names: set[str] = set()
    sites = [Path(e) for e in sys.path if e and Path(e).name in SKIP_PARTS]
    for entry in sys.path:
        if entry and any(Path(entry).is_relative_to(site) and Path(entry) != site for site in sites):
            continue
        try:
            with os.scandir(entry or ".") as it:
                names.update(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
    info: dict[str, Any] = {"python": platform.python_version(), "implementation": platform.python_implementation(),
                            "distributions": sorted(names)}
    return str(sha256_json(info))
