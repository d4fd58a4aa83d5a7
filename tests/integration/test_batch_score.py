"""`shipyard batch score` (issue 19): real Parquet/CSV parts, a real skops model from the registry, the real CLI.

Predictions equal the model's in memory; bad rows are quarantined with a reason each; --max-bad-rate exits 1;
a job killed with SIGKILL mid-way and run again ends with every row exactly once; the job is recorded with
lineage and audited; bad options exit 2 naming the field.
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
import pyarrow.parquet as pq
import pytest
import skops.io as sio
from tests.builders import make_skops_model
from tests.conftest import need_module

from shipyard.config import Settings
from shipyard.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    w = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    make_skops_model(tmp_path / "m.skops")
    w.models.register("credit", tmp_path / "m.skops", "sklearn")
    yield w
    w.close()


def _model(tmp_path: Path):  # type: ignore[no-untyped-def]
    return sio.load(tmp_path / "m.skops", trusted=sio.get_untrusted_types(file=tmp_path / "m.skops"))


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 4)), columns=[f"f{i}" for i in range(4)])


def _cli(ws: Workspace, *args: str, wait: bool = True):  # type: ignore[no-untyped-def]
    env = {**os.environ, "SHIPYARD_DB_URL": ws.settings.db_url or "", "SHIPYARD_ACTOR": "alice",
           "COLUMNS": "1000"}
    for k in ("SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_AUDIT_KEY"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "shipyard.cli.main", "-C", str(ws.root), "batch", "score", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _read(out: Path) -> pd.DataFrame:
    files = sorted(p for p in out.glob("*.parquet"))
    return pd.concat([pq.read_table(f).to_pandas() for f in files], ignore_index=True)


def test_folder_of_csv_and_parquet_scores_like_the_model_in_memory(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    a, b = _frame(300, 1), _frame(200, 2)
    a.to_parquet(src / "a.parquet")
    b.assign(extra="x").to_csv(src / "b.csv", index=False)  # extra columns are ignored
    r = _cli(ws, "credit:1", "--input", str(src), "--output", str(tmp_path / "out"), "--json",
             "--chunk-rows", "64")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert (job["rows"], job["bad"], job["version"]) == (500, 0, 1)
    got = _read(tmp_path / "out")
    model = _model(tmp_path)
    want = np.vstack([model.predict_proba(a), model.predict_proba(b[a.columns])])
    got = got.set_index("row_id").loc[[f"a:{i}" for i in range(300)] + [f"b:{i}" for i in range(200)]]
    np.testing.assert_allclose(got[["proba_0", "proba_1"]].to_numpy(), want, rtol=0, atol=1e-12)
    assert got["prediction"].tolist() == np.concatenate([model.predict(a), model.predict(b[a.columns])]).tolist()
    assert set(got["version"]) == {1} and set(got["model"]) == {"credit"}


def test_bad_rows_are_quarantined_with_reasons_and_the_rate_gates_the_exit(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    good = _frame(50, 3)
    bad = good.astype(object)
    bad.loc[3, "f1"] = "abc"
    bad.loc[7, "f2"] = float("inf")
    bad.to_csv(src / "mixed.csv", index=False)
    good.drop(columns=["f3"]).to_parquet(src / "nocol.parquet")  # a missing column fails every row
    r = _cli(ws, "credit:1", "--input", str(src), "--output", str(tmp_path / "out"),
             "--max-bad-rate", "0.6", "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert (job["rows"], job["bad"]) == (100, 52)
    q = pd.concat([pq.read_table(f).to_pandas() for f in sorted((tmp_path / "out" / "_quarantine").glob("*"))])
    reasons = dict(zip(q["row_id"], q["reason"], strict=True))
    assert "f1: got 'abc', expected a finite number" in reasons["mixed:3"]
    assert reasons["mixed:7"].startswith("f2: got inf")
    assert "f3: missing column" in reasons["nocol:0"] and len([k for k in reasons if k.startswith("nocol")]) == 50
    scored = _read(tmp_path / "out")
    assert sorted(scored["row_id"]) == sorted(f"mixed:{i}" for i in range(50) if i not in (3, 7))
    model = _model(tmp_path)
    mask = ~good.index.isin([3, 7])
    np.testing.assert_allclose(scored.sort_values("row")["proba_1"].to_numpy(),
                               model.predict_proba(good[mask])[:, 1], atol=1e-12)
    r = _cli(ws, "credit:1", "--input", str(src), "--output", str(tmp_path / "out2"), "--max-bad-rate", "0.1")
    assert r.returncode == 1, r.stderr
    assert "--max-bad-rate" in r.stderr and "52 of 100 rows" in r.stderr
    r = _cli(ws, "credit:1", "--input", str(src), "--output", str(tmp_path / "out2"), "--max-bad-rate", "0.1", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["ok"] is False and json.loads(r.stdout)["bad"] == 52


def test_bad_options_exit_2_naming_the_field(ws: Workspace, tmp_path: Path) -> None:
    r = _cli(ws, "credit:1", "--input", str(tmp_path / "nope"), "--output", str(tmp_path / "out"))
    assert r.returncode == 2 and "--input" in r.stderr, r.stderr
    (tmp_path / "in.csv").write_text("f0,f1,f2,f3\n1,2,3,4\n")
    r = _cli(ws, "credit:1", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o"),
             "--max-bad-rate", "2")
    assert r.returncode == 2 and "--max-bad-rate" in r.stderr, r.stderr
    r = _cli(ws, "credit:9", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "version: got 9" in r.stderr, r.stderr
    r = _cli(ws, "credit:1", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "o"),
             "--engine", "spark")
    assert r.returncode == 2 and "--engine" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_killed_job_rerun_gives_every_row_exactly_once_and_is_recorded(ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    n_parts, rows = 12, 4000
    for i in range(n_parts):
        _frame(rows, 10 + i).to_parquet(src / f"p{i:02d}.parquet")
    out = tmp_path / "out"
    proc = _cli(ws, "credit:1", "--input", str(src), "--output", str(out), "--chunk-rows", "100", wait=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("p*.parquet"))) < 3 and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.communicate()
    finished = len(list(out.glob("p*.parquet")))
    assert 0 < finished < n_parts, "the kill should land mid-job"
    r = _cli(ws, "credit:1", "--input", str(src), "--output", str(out), "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert sum(x["skipped"] for x in job["parts"]) >= finished - 1
    got = _read(out)
    assert len(got) == n_parts * rows and got["row_id"].is_unique
    assert set(got["row_id"]) == {f"p{i:02d}:{j}" for i in range(n_parts) for j in range(rows)}
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    # lineage: input URIs and hashes -> version -> output, audited with the record's digest
    events = ws.audit.log(action="batch.score")
    assert events[-1].subject == "model:credit:1"
    after = json.loads(events[-1].after or "{}")
    assert after["rows"] == n_parts * rows and len(after["inputs"]) == n_parts
    record = json.loads(ws.artifacts.get_bytes(after["record"]))
    assert record["digest"] == ws.models.get_version("credit:1").artifact_digest
    assert {x["output"] for x in record["parts"]} == {f"p{i:02d}.parquet" for i in range(n_parts)}
    assert all(len(x["sha256"]) == 64 and x["input"].endswith(".parquet") for x in record["parts"])


PYFUNC = '''
import json
import os

OUT = @OUT@


class Model:
    feature_names = ["x"]

    def predict(self, X):
        with open(os.path.join(OUT, f"predict-{os.getpid()}.json"), "w") as f:
            json.dump({"pid": os.getpid(), "env": dict(os.environ)}, f)
        return [float(v) * 2 for v in X["x"]]
'''


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here
def test_pyfunc_scores_only_in_the_sandboxed_child(ws: Workspace, tmp_path: Path, sandbox_drop: Path) -> None:
    import io
    import zipfile

    spy = sandbox_drop  # the confined model process writes only its own folder and /dev/shm
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pyfunc.json", json.dumps({"entrypoint": "model:Model"}))
        zf.writestr("model.py", PYFUNC.replace("@OUT@", repr(str(spy))))
    (tmp_path / "m.zip").write_bytes(buf.getvalue())
    ws.models.register("doubler", tmp_path / "m.zip", "pyfunc")
    pd.DataFrame({"x": [1.0, 2.5, 4.0]}).to_csv(tmp_path / "in.csv", index=False)
    proc = _cli(ws, "doubler:1", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out"), "--json",
                wait=False)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert sorted(_read(tmp_path / "out")["prediction"]) == [2.0, 5.0, 8.0]
    seen = [json.loads(f.read_text()) for f in spy.glob("predict-*.json")]
    assert seen and all(s["pid"] != proc.pid for s in seen)
    assert not [k for s in seen for k in s["env"] if k.startswith("SHIPYARD_")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the store is not the point here
@pytest.mark.parametrize("engine", ["dask", "ray"])
def test_cluster_engines_give_identical_output_to_local(ws: Workspace, tmp_path: Path, engine: str) -> None:
    need_module("distributed" if engine == "dask" else "ray", engine)  # fails, not skips, under CI=true
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        _frame(500, 30 + i).to_parquet(src / f"p{i}.parquet")
    for name in ("local", engine):
        r = _cli(ws, "credit:1", "--input", str(src), "--output", str(tmp_path / name), "--engine", name,
                 "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["engine"] == name
    for i in range(3):
        local = pq.read_table(tmp_path / "local" / f"p{i}.parquet")
        other = pq.read_table(tmp_path / engine / f"p{i}.parquet")
        assert local.equals(other) and local.num_rows == 500


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_s3_input_folder(ws: Workspace, tmp_path: Path, s3_server: str) -> None:
    import io

    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    frames = [_frame(100, 40), _frame(50, 41)]
    for i, df in enumerate(frames):
        buf = io.BytesIO()
        df.to_parquet(buf)
        s3.put_object(Bucket="shipyard", Key=f"batch-in/p{i}.parquet", Body=buf.getvalue())
    r = _cli(ws, "credit:1", "--input", "s3://shipyard/batch-in", "--output", str(tmp_path / "out"), "--json")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert job["rows"] == 150 and [x["input"] for x in job["parts"]] == [
        "s3://shipyard/batch-in/p0.parquet", "s3://shipyard/batch-in/p1.parquet"]
    got = _read(tmp_path / "out").set_index("row_id")
    model = _model(tmp_path)
    np.testing.assert_allclose(got.loc[[f"p1:{i}" for i in range(50)], "proba_1"].to_numpy(),
                               model.predict_proba(frames[1])[:, 1], atol=1e-12)
    inside = _cli(ws, "credit:1", "--input", str(tmp_path), "--output", str(tmp_path / "o2"))
    assert inside.returncode == 2 and "--output" in inside.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_second_job_on_the_same_output_is_refused_while_the_first_runs(ws: Workspace, tmp_path: Path) -> None:
    import fcntl

    _frame(10, 50).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "_lock", "a+") as f:  # what a running job holds
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        r = _cli(ws, "credit:1", "--input", str(tmp_path / "in.csv"), "--output", str(out))
        assert r.returncode != 0 and "another shipyard batch score job" in r.stderr, r.stderr
        assert not (out / "in.parquet").exists()
    r = _cli(ws, "credit:1", "--input", str(tmp_path / "in.csv"), "--output", str(out))
    assert r.returncode == 0 and (out / "in.parquet").exists(), r.stderr
