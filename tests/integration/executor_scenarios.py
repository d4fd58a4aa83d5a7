"""What the dask and ray executor tests check, on the regression example (one cluster per test module).

- the same pipeline gives the same step outputs, metrics and cache keys as the local executor, and the
  portable steps really ran in a worker process;
- the cache crosses executors both ways: a step cached by a local run is a hit on the cluster, and a step
  computed on the cluster is a hit locally; evaluate loads the champion on the worker;
- a failing step is reported with its name and the user's message, its traceback in the step log;
- through the CLI with a cluster the run starts itself: exit 2, no traceback or cluster log on stderr, and
  the user's code ran without the database URL in its environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard.config import ExecutorSpec
from shipyard.pipeline.runner import RunResult, run_pipeline, run_result_of
from shipyard.pipeline.runs import RunLog, StepRecord
from shipyard.workspace import Workspace

SRC = str(Path(__file__).resolve().parents[2] / "src")
PORTABLE = ["split", "train", "evaluate", "gate"]
TIMED = {"p50_latency_ms", "p99_latency_ms", "throughput_rows_per_s", "peak_memory_mb"}  # measured, not computed
MODEL = "diabetes-progression"


def _steps(result: RunResult) -> dict[str, StepRecord]:
    return {s.name: s for s in result.steps}


def worker_pid(rec: StepRecord, executor: str) -> int:
    found = re.search(rf"ran on the {executor} worker: host \S+, pid (\d+)", rec.log)
    assert found, f"{rec.name} did not run on a {executor} worker:\n{rec.log}"
    return int(found.group(1))


def reopen(ws: Workspace, old: str, new: str) -> Workspace:
    cfg = ws.root / "shipyard.yaml"
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new))
    return Workspace.open(ws.root, settings=ws.settings)


def same_as_local(ws: Workspace, executor: ExecutorSpec) -> None:
    local = run_pipeline(ws, executor="local")
    remote = run_pipeline(ws, executor=executor, force=True)
    assert local.status == remote.status == "succeeded" and remote.executed == local.executed
    lo, re_ = _steps(local), _steps(remote)
    # evaluate, gate and register cover the model's digest, and a skops file is not byte-reproducible (member
    # names are object ids, with timestamps): two trainings of the same model never share those keys
    for name in ("validate", "split", "train"):
        assert lo[name].cache_key == re_[name].cache_key, name
    for name in ("validate", "split"):
        assert lo[name].outputs == re_[name].outputs, name
    trained = [{k: v for k, v in _steps(r)["train"].outputs.items() if k != "model"} for r in (local, remote)]  # type: ignore[union-attr]
    assert trained[0] == trained[1]
    assert _predictions(ws, lo["train"]) == _predictions(ws, re_["train"])
    metrics = [{k: v for k, v in _steps(r)["evaluate"].outputs["metrics"].items() if k not in TIMED}  # type: ignore[index]
               for r in (local, remote)]
    assert metrics[0] == metrics[1] and "r2" in metrics[0]
    assert [(g["gate"], g["passed"]) for g in lo["gate"].outputs["results"]] == \
        [(g["gate"], g["passed"]) for g in re_["gate"].outputs["results"]]  # type: ignore[index]
    pids = {worker_pid(re_[name], executor.name) for name in PORTABLE}
    assert not [n for n in PORTABLE if "warning: the worker's installed packages" in re_[n].log]
    assert os.getpid() not in pids
    for name in ("validate", "register"):  # they write to the database: always in the control plane
        assert f"{executor.name} worker" not in re_[name].log
    mv = ws.models.get_version(f"{MODEL}:{remote.version}")
    assert mv.artifact_digest == re_["train"].outputs["model"]  # type: ignore[index]
    assert mv.evaluation["metrics"]["r2"] == metrics[0]["r2"]  # type: ignore[index]


def _predictions(ws: Workspace, train: StepRecord) -> list[float]:
    import pandas as pd

    from shipyard.core.hashing import Digest
    from shipyard.flavors import factory

    model = factory.create("sklearn").load(ws.artifacts.get_bytes(Digest(train.outputs["model"])))  # type: ignore[index]
    X = pd.read_csv(ws.root / "data/diabetes.csv").drop(columns=["progression"])
    return [float(v) for v in model.predict(X)]


def cache_crosses_executors(ws: Workspace, executor: ExecutorSpec) -> None:
    first = run_pipeline(ws, executor="local")
    assert first.executed == ["validate", *PORTABLE, "register"]
    ws2 = reopen(ws, "r2 >= 0.3", "r2 >= 0.25")
    try:
        second = run_pipeline(ws2, executor=executor)  # cached locally -> hits on the cluster
        assert second.cached == ["validate", "split", "train", "evaluate"] and second.executed == ["gate", "register"]
        worker_pid(_steps(second)["gate"], executor.name)
    finally:
        ws2.close()
    ws3 = reopen(ws, "alpha: 1.0", "alpha: 2.0")
    try:
        third = run_pipeline(ws3, executor=executor)
        assert third.cached == ["validate", "split"] and third.executed == ["train", "evaluate", "gate", "register"]
        assert run_pipeline(ws3, executor="local").cached == [s.name for s in third.steps]  # and back
        ws3.models.set_alias(MODEL, "champion", 1)
        fourth = run_pipeline(ws3, executor=executor)  # a new champion: evaluate again, champion loaded there
        assert fourth.executed == ["evaluate", "gate", "register"]
        ev = _steps(fourth)["evaluate"]
        worker_pid(ev, executor.name)
        assert ev.outputs["champion"] == f"{MODEL}:1" and f"champion {MODEL}:1 scored" in ev.log  # type: ignore[index]
        assert any(g["gate"].startswith("rmse vs champion") for g in fourth.gates)
    finally:
        ws3.close()


def failing_step_is_named(ws: Workspace, executor: ExecutorSpec) -> None:
    from shipyard.pipeline.errors import TrainFunctionError

    (ws.root / "pipeline/train.py").write_text("def train(X, y, params):\n"
                                                "    raise RuntimeError('no convergence on the cluster')\n")
    with pytest.raises(TrainFunctionError, match="no convergence on the cluster") as info:
        run_pipeline(ws, executor=executor)
    assert info.value.field == "pipeline.train"
    result = run_result_of(info.value)
    assert result is not None and result.status == "failed" and result.failure_exit == 2
    rec = result.steps[-1]
    assert (rec.name, rec.status) == ("train", "failed")
    worker_pid(rec, executor.name)
    assert "RuntimeError: no convergence on the cluster" in rec.log  # the user's traceback, in the step log


TRAIN_SPY = """
import json, os


def train(X, y, params):
    seen = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
    with open(@OUT@, "w") as f:
        json.dump({"pid": os.getpid(), "env": seen}, f)
    raise ValueError("alpha must be positive, got -1")
"""


def _last_run(ws: Workspace) -> str:
    from sqlalchemy import select

    from shipyard.store.sql import tables as t

    with ws.db.read() as conn:
        return str(conn.execute(select(t.runs.c.id).order_by(t.runs.c.started_at.desc()).limit(1)).scalar_one())


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (so: started by the CLI run, which had it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cli_with_its_own_cluster(ws: Workspace, tmp_path: Path, executor: str) -> None:
    """`shipyard run` with ``pipeline.executor: NAME``: the CLI starts a local cluster, the train function fails
    there. Exit 2 naming the step and the user's message; no traceback, no cluster log; no secret in the worker's
    environment; nothing of the cluster left running."""
    spy = tmp_path / "spy.json"
    (ws.root / "pipeline/train.py").write_text(TRAIN_SPY.replace("@OUT@", repr(str(spy))))
    ws2 = reopen(ws, "pipeline:\n", f"pipeline:\n  executor: {executor}\n")
    ws2.close()
    marker = f"executor-test-{uuid.uuid4().hex}"
    env = {**os.environ, "PYTHONPATH": SRC, "SHIPYARD_DB_URL": str(ws.settings.db_url),
           "SHIPYARD_ACTOR": "alice", "COLUMNS": "200", "EXECUTOR_TEST_MARK": marker}
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "run"], cwd=ws.root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=300)
    out = stdout + stderr
    assert proc.returncode == 2, out
    assert re.search(r"✗ train\s+failed", out), out
    assert "alpha must be positive, got -1" in out and "Traceback" not in out, out
    for noise in ("distributed.", "WARNING", "INFO", "(raylet)", "ray."):
        assert noise not in out, out
    seen: dict[str, Any] = json.loads(spy.read_text())
    assert seen["pid"] != proc.pid
    assert seen["env"].get("SHIPYARD_DB_URL", "") == "" and seen["env"].get("SHIPYARD_ACTOR", "") == ""
    started = {"dask": "dask: started a local cluster", "ray": "ray: using a local Ray"}[executor]
    assert started in RunLog(ws.db, ws.actor, ws.clock).get(_last_run(ws)).steps[1].log  # split, its first step
    deadline = time.monotonic() + 15  # processes told to stop may take a moment to go
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_with(marker), "the run left cluster processes running"
