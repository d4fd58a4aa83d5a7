"""Run one benchmark subject in its own process: wall time of the whole process, peak memory, its JSON answer.

Memory is the peak of the subject's whole process tree, sampled from /proc by ``bench/batch/tree.py``
(summed RSS as ``peak_rss_mb``, PSS beside it). ``os.wait4``'s ``ru_maxrss`` was used before and is no
measure: it is one process's peak, and Linux seeds it at ``fork`` with the parent's RSS, so every subject
started by a benchmark holding 300 MB read at least 300 MB. Output goes to files, so a chatty subject never
blocks on a full pipe.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / ".data"
RESULTS = ROOT / "bench" / "results"
PEERS = Path(os.environ.get("PEERS_DIR", "/work/peers-venv"))
PROJECT_PY = os.environ.get("PROJECT_PYTHON", str(ROOT / ".venv" / "bin" / "python"))


def _load_tree() -> Any:
    """bench/batch/tree.py (the whole process tree's peak memory), loaded by path: putting bench/batch on
    sys.path would shadow this folder's ``run`` module with bench/batch/run.py."""
    spec = importlib.util.spec_from_file_location("shipyard_bench_tree", ROOT / "bench" / "batch" / "tree.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


tree = _load_tree()


def peer_python(peer: str) -> str | None:
    """The peer venv's python, or None when setup_peers.sh has not made it (or it failed)."""
    path = PEERS / peer / "bin" / "python"
    return str(path) if path.exists() and (PEERS / peer / "OK").exists() else None


def run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 1800) -> dict[str, Any]:
    """Run ``argv`` to the end: exit code, wall seconds, peak memory of its process tree in MB (summed RSS,
    and PSS), and the last JSON line of stdout."""
    r = tree.run(argv, env=env, timeout=timeout, cwd=cwd)
    return {"exit_code": r["exit_code"], "wall_s": r["wall_s"], "peak_rss_mb": r["peak_rss_sum_mb"],
            "peak_pss_mb": r["peak_pss_mb"], "answer": r["answer"], "stderr_tail": r["stderr_tail"]}
