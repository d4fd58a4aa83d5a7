"""Run the real `shipyard` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> CliRunner:
    """`cli("data", "add", ...)` runs shipyard in a fresh workspace folder; returns the CompletedProcess."""
    root = tmp_path / "ws"
    root.mkdir(exist_ok=True)

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
        e.update({"COLUMNS": "200", "SHIPYARD_ACTOR": "alice"})
        e.update(env or {})
        return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args], cwd=cwd or root, env=e,
                              capture_output=True, text=True, timeout=timeout)

    return run
