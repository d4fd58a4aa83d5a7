"""Batch predictions feed an endpoint's monitors like online traffic (issue 19), and every job is a row of
``batch_jobs`` (`shipyard batch list/show`).

A real model registered with lineage to a real training dataset version, deployed on an endpoint; the
real CLI scores Parquet parts with `--monitor`; the real monitor scheduler's drift check reads the
endpoint's prediction log. Data like the training data: drift ok, no alert; data shifted by 1.5 standard
deviations: the drift check goes critical and the alert fires. The logged rows carry the version and job,
follow the workspace's log_drop/hash columns, and are invisible to the rollout's readers. A job killed
mid-way and run again logs every row once and leaves the killed run `interrupted`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
from tests.builders import approve

from shipyard.config import Settings, parse_project
from shipyard.monitoring import alerts
from shipyard.monitoring.scheduler import Scheduler
from shipyard.monitoring.service import MonitorService
from shipyard.telemetry.prediction_log import read_log
from shipyard.workspace import Workspace

FEATURES = [f"f{i}" for i in range(4)]


def _frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(loc=shift, size=(rows, 4)), columns=FEATURES)


@pytest.fixture
def ws(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """A model trained on a stored dataset version (its lineage names it), deployed on endpoint ``ep``."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    root = tmp_path / "ws"
    Workspace.init(root, settings=Settings(db_url=db_url, actor="alice")).close()
    with (root / "shipyard.yaml").open("a") as fh:
        fh.write("serving: {log_drop_columns: [f3], log_hash_columns: [f2]}\n")
    w = Workspace.open(root, settings=Settings(db_url=db_url, actor="alice"))
    train = _frame(3000, 1)
    train["y"] = (train["f0"] + train["f1"] > 0).astype(int)
    train.to_csv(tmp_path / "train.csv", index=False)
    dv = w.datasets.add(tmp_path / "train.csv", name="train")
    sio.dump(LogisticRegression().fit(train[FEATURES], train["y"]), tmp_path / "m.skops")
    w.models.register("credit", tmp_path / "m.skops", "sklearn",
                      lineage=[{"kind": "dataset", "ref": dv.ref, "digest": dv.digest, "role": "train"}])
    approve(w, "credit:1")
    w.endpoints.deploy("credit:1", "ep")
    yield w
    w.close()


def _cli(ws: Workspace, *args: str, wait: bool = True):  # type: ignore[no-untyped-def]
    env = {**os.environ, "SHIPYARD_DB_URL": ws.settings.db_url or "", "SHIPYARD_ACTOR": "alice",
           "COLUMNS": "1000"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_AUDIT_KEY"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "shipyard.cli.main", "-C", str(ws.root), "batch", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)


def _parts(folder: Path, n: int, rows: int, seed: int, shift: float = 0.0) -> Path:
    folder.mkdir()
    for i in range(n):
        _frame(rows, seed + i, shift).to_parquet(folder / f"p{i}.parquet")
    return folder


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here
def test_shifted_batch_data_fires_the_endpoints_drift_monitor(ws: Workspace, tmp_path: Path) -> None:
    spec = parse_project({"monitor": {"window": 1500, "drift": {"warning": 0.1, "critical": 0.25,
                                                                  "min_rows": 200}}}).monitor
    assert spec is not None
    scheduler = Scheduler(ws.as_principal(alerts.ACTOR), spec)
    monitors = MonitorService(ws.db, ws.actor, ws.clock)

    clean = _parts(tmp_path / "clean", 3, 500, seed=10)
    r = _cli(ws, "score", "credit:1", "--input", str(clean), "--output", str(tmp_path / "o1"), "--monitor", "ep",
             "--json")
    assert r.returncode == 0, r.stderr
    job1 = json.loads(r.stdout)
    assert (job1["monitor"], job1["logged"], job1["rows"]) == ("ep", 1500, 1500)
    [result] = scheduler.run_check("ep", "drift", spec.checks()["drift"])
    assert result.enough and result.rows == 1500 and result.version == 1
    assert result.metrics["share_drifted"] < 0.1, result.detail
    assert not monitors.alerts("ep", "firing")

    shifted = _parts(tmp_path / "shifted", 3, 500, seed=20, shift=1.5)
    r = _cli(ws, "score", "credit:1", "--input", str(shifted), "--output", str(tmp_path / "o2"), "--monitor", "ep",
             "--json")
    assert r.returncode == 0, r.stderr
    job2 = json.loads(r.stdout)
    [result] = scheduler.run_check("ep", "drift", spec.checks()["drift"])
    assert result.rows == 1500 and "f0" in result.detail["drifted"] and "f1" in result.detail["drifted"]
    [alert] = monitors.alerts("ep", "firing")
    assert (alert["rule"], alert["severity"]) == ("drift", "critical")

    # what the monitors read: the gateway's columns, the job and version, inputs after drop/hash
    log = read_log(ws.artifacts, "ep", batch=True)
    assert log.num_rows == 3000
    assert set(log["batch_job"].to_pylist()) == {job1["job"], job2["job"]}
    assert set(log["version"].to_pylist()) == {1} and log["latency_ms"].null_count == 3000
    assert "input_f3" not in log.column_names  # log_drop_columns
    assert all(len(v) == 64 for v in log["input_f2"].to_pylist())  # log_hash_columns: HMAC hex, not the value
    first = log.filter(pc.equal(log["request_id"], f"{job2['job']}:p1"))
    np.testing.assert_allclose(first["input_f0"].to_numpy(), _frame(500, 21, 1.5)["f0"].to_numpy())
    proba = np.asarray(first["output_predict_proba"].to_pylist())
    assert proba.shape == (500, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert read_log(ws.artifacts, "ep") is None  # a rollout judges live traffic only
    assert all(p.rsplit("/", 1)[1].startswith("batch-") for p in ws.artifacts.list_objects("predictions/ep/"))
    # the monitor files went to the log and were removed from the output folder
    assert not list((tmp_path / "o2" / "_monitor").glob("*.parquet"))

    r = _cli(ws, "score", "credit:1", "--input", str(clean), "--output", str(tmp_path / "o3"), "--monitor", "ep",
             "--monitor-sample", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    assert 200 < json.loads(r.stdout)["logged"] < 400
    r = _cli(ws, "score", "credit:1", "--input", str(clean), "--output", str(tmp_path / "o4"), "--monitor", "nope")
    assert r.returncode == 2 and "--monitor" in r.stderr and "nope" in r.stderr, r.stderr


def test_killed_monitored_job_logs_every_row_once_and_the_jobs_table_tells_its_story(
        ws: Workspace, tmp_path: Path) -> None:
    src = _parts(tmp_path / "in", 10, 3000, seed=40)
    out = tmp_path / "out"
    proc = _cli(ws, "score", "credit:1", "--input", str(src), "--output", str(out), "--chunk-rows", "100",
                "--monitor", "ep", wait=False)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(list(out.glob("p*.parquet"))) < 3 and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    finished = len(list(out.glob("p*.parquet")))
    assert 0 < finished < 10, "the kill should land mid-job"
    r = _cli(ws, "score", "credit:1", "--input", str(src), "--output", str(out), "--monitor", "ep", "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert job["logged"] == 30_000
    log = read_log(ws.artifacts, "ep", batch=True)
    keys = [f"{rid.split(':', 1)[1]}:{row}" for rid, row in zip(log["request_id"].to_pylist(),
                                                                 log["row"].to_pylist(), strict=True)]
    assert len(keys) == 30_000 and len(set(keys)) == 30_000  # every (part, row) once

    # the crash window between publishing a part's rows and marking them published in the manifest: the
    # part's monitor file is still there; the next run publishes the same object again, never a second one
    from shipyard.batch.engines import load_scorer
    from shipyard.batch.parts import Part
    from shipyard.batch.score import score_part
    from shipyard.batch.service import BatchService

    manifest = json.loads((out / "_manifest.json").read_text())
    entry = manifest["parts"]["p0.parquet"]["log"]
    key, entry["published"], entry["object"] = entry["object"], False, None
    (out / "_manifest.json").write_text(json.dumps(manifest))
    spec = BatchService(ws)._spec(ws.models.get_version("credit:1"))
    score_part(load_scorer(spec), Part(str(src / "p0.parquet"), "parquet", "p0.parquet"), out, 65_536, 1.0)
    assert (out / "_monitor" / "p0.parquet").exists()
    r = _cli(ws, "score", "credit:1", "--input", str(src), "--output", str(out), "--monitor", "ep", "--json")
    assert r.returncode == 0, r.stderr
    assert all(x["skipped"] for x in json.loads(r.stdout)["parts"])
    assert json.loads((out / "_manifest.json").read_text())["parts"]["p0.parquet"]["log"]["object"] == key
    assert read_log(ws.artifacts, "ep", batch=True).num_rows == 30_000
    assert not (out / "_monitor" / "p0.parquet").exists()

    listed = json.loads(_cli(ws, "list", "--model", "credit:1", "--json").stdout)
    assert [j["status"] for j in listed] == ["succeeded", "succeeded", "interrupted"]
    assert listed[1]["id"] == job["job"] and listed[1]["rows"] == 30_000
    shown = json.loads(_cli(ws, "show", job["job"], "--json").stdout)
    assert shown["digest"] == ws.models.get_version("credit:1").artifact_digest
    assert shown["monitor_endpoint"] == "ep" and shown["logged"] == 30_000 and shown["record"] == job["record"]
    parts = {Path(x["input"]).name: x for x in shown["parts"]}
    assert set(parts) == {f"p{i}.parquet" for i in range(10)}
    assert all(len(x["sha256"]) == 64 and x["output"] == x["input"].rsplit("/", 1)[1] for x in parts.values())
    earlier = {x["job"] for x in parts.values() if x["skipped"]}
    assert earlier == {listed[2]["id"]}  # skipped parts name the killed run that scored them
    text = _cli(ws, "show", job["job"])
    assert text.returncode == 0 and "succeeded" in text.stdout and "earlier run" in text.stdout, text.stderr
    assert _cli(ws, "list").stdout.count("credit:1") == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_failed_and_unreadable_jobs_are_recorded_with_their_status(ws: Workspace, tmp_path: Path) -> None:
    from shipyard.batch.service import BatchService

    src = tmp_path / "in"
    src.mkdir()
    bad = _frame(20, 50).astype(object)
    bad.loc[2, "f0"] = "x"
    bad.to_csv(src / "a.csv", index=False)
    r = _cli(ws, "score", "credit:1", "--input", str(src), "--output", str(tmp_path / "o1"))
    assert r.returncode == 1, r.stderr
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "z.parquet").write_bytes(b"not parquet at all")
    r = _cli(ws, "score", "credit:1", "--input", str(tmp_path / "broken"), "--output", str(tmp_path / "o2"))
    assert r.returncode == 2 and "z.parquet" in r.stderr and "Traceback" not in r.stderr, r.stderr
    jobs = BatchService(ws)
    [failed] = jobs.list(status="failed")
    assert (failed["rows"], failed["bad"], failed["model"]) == (20, 1, "credit")
    [err] = jobs.list(status="error")
    assert "z.parquet" in jobs.show(err["id"])["error"] and jobs.show(err["id"])["finished_at"]
    r = _cli(ws, "show", "nope")
    assert r.returncode == 2 and "nope" in r.stderr
    r = _cli(ws, "list", "--status", "bogus")
    assert r.returncode == 2 and "--status" in r.stderr
