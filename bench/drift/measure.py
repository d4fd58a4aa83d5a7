"""Run one benchmark subject in its own process: wall time of the whole process, peak RSS, its JSON answer.

``os.wait4`` returns the resource usage of exactly that child (and the descendants it waited for), so
``ru_maxrss`` is the subject's own peak, not the largest of all children so far. Output goes to files,
so a chatty subject never blocks on a full pipe.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / ".data"
RESULTS = ROOT / "bench" / "results"
PEERS = Path(os.environ.get("PEERS_DIR", "/work/peers-venv"))
PROJECT_PY = os.environ.get("PROJECT_PYTHON", str(ROOT / ".venv" / "bin" / "python"))


def peer_python(peer: str) -> str | None:
    """The peer venv's python, or None when setup_peers.sh has not made it (or it failed)."""
    path = PEERS / peer / "bin" / "python"
    return str(path) if path.exists() and (PEERS / peer / "OK").exists() else None


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 1800) -> dict[str, Any]:
    """Run ``argv`` to the end: exit code, wall seconds, peak RSS in MB, and the last JSON line of stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env={**os.environ, **(env or {})}, cwd=cwd)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.02)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    answer: Any = None
    try:
        answer = json.loads(stdout)
    except ValueError:
        for line in reversed(stdout.strip().splitlines()):
            try:
                answer = json.loads(line)
                break
            except ValueError:
                continue
    return {"exit_code": proc.returncode, "wall_s": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "answer": answer, "stderr_tail": stderr.strip().splitlines()[-3:]}
