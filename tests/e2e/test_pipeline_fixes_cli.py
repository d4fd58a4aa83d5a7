"""`shipyard run` / `shipyard data` on the credit example: user mistakes end in exit 2 naming the key, before
training when the data can tell; the step cache sees imported modules; crashes leave no stale state.

Each test works in a fresh workspace through the real CLI in a subprocess (the `cli` fixture); the
example is made cheaper (bootstrap 0, 20 boosting rounds, no robustness) so a full run takes a few seconds.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import CliRunner


def credit(cli: CliRunner, tmp_path: Path) -> Path:
    """A fresh credit workspace, made fast; returns its root."""
    root = tmp_path / "ws"
    p = cli("init", "--example", "credit")
    assert p.returncode == 0, p.stderr
    edit(root / "shipyard.yaml", "bootstrap: 200", "bootstrap: 0")
    edit(root / "shipyard.yaml", "max_iter: 100", "max_iter: 20")
    edit(root / "shipyard.yaml", "robustness: {missing_rate: 0.1, noise: 0.05, swap_rate: 0.1}", "robustness: null")
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def db(root: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(root / ".shipyard" / "shipyard.db") as conn:
        rows = conn.execute(sql, args).fetchall()
    return rows


def last_run(root: Path) -> tuple[str, dict[str, Any]]:
    status, result = db(root, "SELECT status, result FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    return status, json.loads(result or "null")


def user_error(p: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2 with a one-line error (no traceback, no 'internal error') containing every needle."""
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr, p.stderr
    for n in needles:
        assert n in p.stderr, (n, p.stderr)
    return p.stderr


def test_non_utf8_byte_in_shipyard_yaml_is_exit_2_naming_the_file_and_line(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    with (root / "shipyard.yaml").open("ab") as fh:
        fh.write(b"# caf\xe9\n")
    lines = (root / "shipyard.yaml").read_bytes().count(b"\n")
    user_error(cli("run"), "shipyard.yaml", f"line {lines}", "0xe9", "UTF-8")


def test_repeated_header_name_is_refused_naming_the_column(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    rows = list(csv.reader((root / "data/credit.csv").open()))
    rows[0][2] = "Seniority"  # Status,Seniority,Seniority,...
    dup = root / "dup.csv"
    with dup.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    user_error(cli("data", "add", str(dup), "-n", "x"), "'Seniority' appears 2 times", "columns 2, 3")
    assert cli("data", "add", "data/credit.csv", "-n", "credit").returncode == 0
    user_error(cli("data", "validate", "credit", str(dup)), "'Seniority' appears 2 times")
    edit(root / "shipyard.yaml", "train: data/credit.csv", "train: dup.csv")
    user_error(cli("run"), "'Seniority' appears 2 times")


def test_parquet_list_column_is_refused_naming_column_and_type(cli: CliRunner, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert cli("init").returncode == 0
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"x": [1, 2], "tags": [[1, 2], [3]]}), path)
    user_error(cli("data", "add", str(path), "-n", "nested"), "'tags'", "list<")


def test_report_dir_that_is_a_file_is_exit_2_and_the_run_ends_failed(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    (root / "f").touch()
    user_error(cli("run", "--report-dir", "f"), "--report-dir", "is a file")
    status, result = last_run(root)
    assert status == "failed" and "--report-dir" in result["error"]
    assert db(root, "SELECT count(*) FROM model_versions")[0][0] == 0  # checked before anything ran


def test_multiclass_target_refuses_binary_metrics_before_training(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    data = root / "data/credit.csv"
    rows = list(csv.reader(data.open()))
    for r in rows[1:4]:
        r[0] = "meh"
    with data.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    edit(root / "shipyard.yaml", "  positive: bad\n", "")
    p = cli("run")
    user_error(p, "evaluation.metrics[0]", "'roc_auc'", "multiclass", "3 classes: bad, good, meh",
               "inferred from the target Status", "roc_auc_ovr")
    assert "train" not in p.stdout  # refused after split, before the train step started
    status, result = last_run(root)
    assert status == "failed" and "evaluation.metrics[0]" in result["error"]


def test_metrics_and_gates_of_another_task_are_refused_before_training(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    cfg = root / "shipyard.yaml"
    edit(cfg, "accuracy, brier]", "accuracy, brier, rmse]")
    p = cli("run")
    user_error(p, "evaluation.metrics[5]", "'rmse'", "classification (2 classes: good, bad", "roc_auc, pr_auc")
    assert "train" not in p.stdout
    edit(cfg, "accuracy, brier, rmse]", "accuracy, brier]")
    edit(cfg, "  - p99_latency_ms <= 500\n", "  - p99_latency_ms <= 500\n  - rmse <= 1\n")
    p = cli("run")
    user_error(p, "gates[5]", "'rmse'", "classification", "roc_auc")
    assert "train" not in p.stdout


def test_column_typos_are_refused_before_training_with_close_matches(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    cfg = root / "shipyard.yaml"
    edit(cfg, "slices: [Home, Job]", "slices: [Hoem, Job]")
    p = cli("run")
    user_error(p, "evaluation.slices[0]", "'Hoem'", "did you mean 'Home'", "Seniority, Home")
    assert "train" not in p.stdout
    edit(cfg, "slices: [Hoem, Job]", "slices: [Home, Job]")
    edit(cfg, "sensitive: [Marital]", "sensitive: [Maritl]")
    user_error(cli("run"), "evaluation.fairness.sensitive[0]", "'Maritl'", "'Marital'")
    edit(cfg, "sensitive: [Maritl]", "sensitive: [Marital]")
    edit(cfg, "dataset: credit", 'dataset: "bad name!"')
    user_error(cli("run"), "data.dataset", "bad name!")


def test_sys_exit_in_the_train_function_is_exit_2_and_the_run_is_failed(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    edit(root / "pipeline/train.py", "    categorical = [", "    import sys\n    sys.exit(3)\n    categorical = [")
    user_error(cli("run"), "called sys.exit(3)", "pipeline.train")
    status, result = last_run(root)
    assert status == "failed" and "sys.exit(3)" in result["error"]


@pytest.mark.slow
def test_changing_an_imported_helper_module_retrains(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    (root / "pipeline/helpers.py").write_text("LR = 0.1\n")
    (root / "pipeline/unrelated.py").write_text("X = 1\n")  # never imported: does not invalidate
    train = root / "pipeline/train.py"
    edit(train, "from sklearn.preprocessing import OneHotEncoder\n",
         "from sklearn.preprocessing import OneHotEncoder\n\nimport helpers\n")
    edit(train, 'learning_rate=float(params.get("learning_rate", 0.1))', "learning_rate=helpers.LR")

    def run() -> dict[str, Any]:
        p = cli("run", "--json")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)  # type: ignore[no-any-return]

    first = run()
    assert first["version"] == 1 and "train" in first["executed"]
    (root / "pipeline/unrelated.py").write_text("X = 2\n")
    assert run()["executed"] == []  # all cache hits: unrelated.py is not in the key
    (root / "pipeline/helpers.py").write_text("LR = 0.3\n")
    second = run()
    assert "train" in second["executed"] and second["version"] == 2
    digests = db(root, "SELECT artifact_digest FROM model_versions ORDER BY version")
    assert digests[0] != digests[1]  # a different model, not the stale one
    prov = json.loads(db(root, "SELECT provenance FROM model_versions WHERE version = 2")[0][0])
    assert list(prov["code"]["modules"]) == ["pipeline/helpers.py"]
    assert run()["executed"] == []  # and the new state is cached


def test_a_killed_run_is_marked_interrupted_but_a_live_one_is_not(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    edit(root / "pipeline/train.py", "    categorical = [", "    import time\n    time.sleep(120)\n    categorical = [")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_ACTOR": "alice"})
    slow = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "run"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until it is in the train step (split recorded)
            if (root / ".shipyard/shipyard.db").exists() and db(root, "SELECT 1 FROM run_steps WHERE name = 'split'"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the run never reached the train step")
        (run_id,) = db(root, "SELECT id FROM runs WHERE status = 'running'")[0]
        cfg = root / "shipyard.yaml"
        edit(cfg, "  - roc_auc >= 0.75\n", "  - roc_auc >>> 0.75\n")  # the next run fails fast (gate syntax)
        user_error(cli("run"), "gates[0]")
        assert db(root, "SELECT status FROM runs WHERE id = ?", run_id)[0][0] == "running"  # its process lives
        slow.send_signal(signal.SIGKILL)
        slow.wait(timeout=30)
        user_error(cli("run"), "gates[0]")
        status, result = db(root, "SELECT status, result FROM runs WHERE id = ?", run_id)[0]
        assert status == "interrupted"
        assert f"pid {slow.pid}" in json.loads(result)["error"]
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait(timeout=30)


@pytest.mark.slow
def test_register_is_idempotent_when_its_cache_entry_was_lost(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    assert cli("run").returncode == 0
    # A crash after the registry transaction committed and before the register step's cache entry was
    # written leaves exactly this state: the version exists, the cache does not know it.
    with sqlite3.connect(root / ".shipyard/shipyard.db") as conn:
        assert conn.execute("DELETE FROM step_cache WHERE step = 'register'").rowcount == 1
    p = cli("run", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["version"] == 1 and out["executed"] == ["register"]
    assert db(root, "SELECT count(*) FROM model_versions")[0][0] == 1


def test_run_json_prints_the_failed_run_on_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    root = credit(cli, tmp_path)
    edit(root / "shipyard.yaml", "slices: [Home, Job]", "slices: [Hoem, Job]")
    p = cli("run", "--json", "--junit", "junit.xml")
    assert p.returncode == 2
    out = json.loads(p.stdout)
    assert out["status"] == "failed" and out["exit_code"] == 2
    assert out["failure"]["field"] == "evaluation.slices[0]"
    assert (root / "junit.xml").exists()
