"""Collect provenance: git revision, Python and package versions."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("shipyard", "scikit-learn", "numpy", "pandas", "pyarrow", "scipy", "skops",
            "xgboost", "xgboost-cpu", "lightgbm", "onnxruntime")


# Variables git may need (where it is, whose config, which language); nothing else of this process's
# environment (the store URL, SHIPYARD_AUDIT_KEY, cloud keys) goes to git or what its config runs.
GIT_ENV_KEEP = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ",
                "GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES", "SSL_CERT_FILE")
# Read-only questions need none of the settings that make git run a command of the repository's choosing:
# a file-system monitor hook, the untracked cache's probes, external diffs.
GIT_SAFE = ("-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "-c", "diff.external=",
            "--no-optional-locks")


def git_info(root: Path) -> dict[str, Any]:
    """The workspace's commit, whether tracked files differ from it, and the branch: asked of ``git`` with a
    minimal environment (``GIT_ENV_KEEP``), without the settings that would run a repository-chosen command
    (``GIT_SAFE``) and without taking the index lock."""
    env = {k: v for k, v in os.environ.items() if k in GIT_ENV_KEEP}
    env["GIT_TERMINAL_PROMPT"] = "0"

    def _git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *GIT_SAFE, *args], cwd=root, capture_output=True, text=True, timeout=5,
                                 env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "branch": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "branch": _git("rev-parse", "--abbrev-ref", "HEAD")}


def environment() -> dict[str, Any]:
    pkgs: dict[str, str] = {}
    for name in PACKAGES:
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": pkgs,
    }
