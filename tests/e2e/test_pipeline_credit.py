"""`shipyard run` end to end on the credit example, through the CLI in a subprocess.

One session-scoped workspace runs the example once (init -> run); every test works on its own copy,
so the expensive first run happens once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ENV = {**os.environ, "COLUMNS": "200", "SHIPYARD_ACTOR": "alice", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
       "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
for _k in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "SHIPYARD_TOKEN", "SHIPYARD_SERVER"):
    ENV.pop(_k, None)


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def run_json(cwd: Path, *args: str) -> tuple[int, dict]:
    p = cli(cwd, "run", "--json", *args)
    assert p.stdout.strip(), p.stderr
    return p.returncode, json.loads(p.stdout)


@pytest.fixture(scope="session")
def credit_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("credit") / "ws"
    p = cli(root.parent, "init", str(root), "--example", "credit")
    assert p.returncode == 0, p.stderr
    for cmd in (["init", "-q"], ["add", "shipyard.yaml", "pipeline", "data"], ["commit", "-qm", "example"]):
        subprocess.run(["git", *cmd], cwd=root, env=ENV, check=True, capture_output=True)
    first = cli(root, "run", "--junit", "junit.xml")
    return root, first


@pytest.fixture
def credit_ws(credit_template: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    dest = tmp_path / "ws"
    shutil.copytree(credit_template[0], dest)
    return dest


def set_config(root: Path, old: str, new: str) -> None:
    cfg = root / "shipyard.yaml"
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new))


def test_init_and_first_run_registers_version_1_with_reports(credit_template) -> None:
    root, first = credit_template
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert "gates" in out and "roc_auc >= 0.75" in out and "pass" in out and "threshold" in out
    assert "credit-risk:1 registered, stage validated" in out
    assert "task classification: 2 classes (good, bad), positive 'bad' (inferred from the target)" in out
    # groups below evaluation.min_group_size are named on the console, not only in the report
    assert "warning: evaluation.fairness.sensitive: Marital has" in out and "min_group_size" in out
    for name in ("report.json", "report.html", "junit.xml"):
        assert (root / ".shipyard/reports/credit-risk/1" / name).stat().st_size > 0
    assert (root / "data/NOTICE.md").read_text().count("MIT") >= 1
    report = json.loads((root / ".shipyard/reports/credit-risk/1/report.json").read_text())
    assert report["passed"] is True and report["stage"] == "validated"
    ev = report["evaluation"]
    for k in ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "brier", "log_loss",
              "demographic_parity_difference", "equalized_odds_difference", "robustness_missing_drop",
              "robustness_noise_drop", "robustness_swap_drop", "p50_latency_ms", "p99_latency_ms",
              "throughput_rows_per_s", "peak_memory_mb", "artifact_size_bytes"):
        assert ev["metrics"][k] is not None, k
    assert set(ev["slices"]) == {"Home", "Job"} and ev["fairness"]["Marital"]["by_group"]
    assert ev["curves"]["calibration"]["mean_predicted"]
    lo, hi = ev["ci"]["roc_auc"]
    assert lo < ev["metrics"]["roc_auc"] < hi
    assert ev["importance"]["method"] == "permutation" and len(ev["importance"]["values"]) == 13
    suite = ET.parse(root / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests")) == 5


def test_models_show_json_has_provenance(credit_ws: Path) -> None:
    p = cli(credit_ws, "models", "show", "credit-risk:1", "--json")
    assert p.returncode == 0, p.stderr
    mv = json.loads(p.stdout)
    prov = mv["provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=credit_ws, capture_output=True, text=True).stdout.strip()
    assert prov["git"]["commit"] == head and prov["git"]["dirty"] is False
    assert prov["datasets"][0]["ref"] == "credit@1" and len(prov["datasets"][0]["digest"]) == 64
    assert prov["params"] == {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 15}
    assert prov["environment"]["python"].count(".") == 2 and "scikit-learn" in prov["environment"]["packages"]
    assert prov["run_id"] == mv["run_id"]
    assert set(prov["steps"]) == {"validate", "split", "train", "evaluate", "gate"}
    assert all(s["seconds"] >= 0 for s in prov["steps"].values())
    assert mv["stage"] == "validated" and mv["flavor"] == "sklearn"
    assert set(mv["reports"]) == {"report.json", "report.html", "junit.xml"}
    assert mv["evaluation"]["metrics"]["roc_auc"] > 0.75
    assert [x["kind"] for x in mv["lineage"]] == ["dataset", "run"]
    assert "Status" not in [i["name"] for i in mv["signature"]["inputs"]]


def test_rerun_hits_cache_and_param_change_reruns_train_onwards(credit_ws: Path) -> None:
    code, res = run_json(credit_ws)
    assert code == 0
    assert res["executed"] == [] and res["cached"] == ["validate", "split", "train", "evaluate", "gate", "register"]
    assert res["version"] == 1  # nothing new registered
    assert (res["task"], res["task_inferred"], res["classes"], res["positive"]) == (
        "classification", True, ["good", "bad"], "bad")  # from the cached split step's outputs
    p = cli(credit_ws, "run")
    assert "all 6 steps were cache hits" in p.stdout and p.returncode == 0
    assert "credit-risk:1 already registered (nothing changed)" in p.stdout
    # the all-hit path hashes files and reads the cache table only: no data or ML library is imported
    probe = ("import sys\nfrom shipyard.cli.main import run\ntry:\n    run(['run', '--json'])\n"
             "except SystemExit as e:\n    code = e.code\n"
             "heavy = sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'sklearn', 'matplotlib', 'skops') "
             "if m in sys.modules)\nprint('HEAVY', code, heavy, file=sys.stderr)\n")
    p = subprocess.run([sys.executable, "-c", probe], cwd=credit_ws, env=ENV, capture_output=True, text=True)
    assert "HEAVY 0 []" in p.stderr, p.stderr
    set_config(credit_ws, "max_leaf_nodes: 15", "max_leaf_nodes: 7")
    code, res = run_json(credit_ws)
    assert code == 0, res
    assert res["cached"] == ["validate", "split"]
    assert res["executed"] == ["train", "evaluate", "gate", "register"]
    assert res["version"] == 2
    code, res = run_json(credit_ws, "--force")
    assert res["executed"] == ["validate", "split", "train", "evaluate", "gate", "register"]


def test_data_change_reruns_every_step(credit_ws: Path) -> None:
    data = credit_ws / "data/credit.csv"
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[:-40]) + "\n")  # fewer rows, same schema
    code, res = run_json(credit_ws)
    assert code == 0, res
    assert res["executed"] == ["validate", "split", "train", "evaluate", "gate", "register"]
    assert res["cached"] == []


def test_champion_gate_that_cannot_be_met_rejects_and_junit_shows_it(credit_ws: Path) -> None:
    assert cli(credit_ws, "models", "alias", "credit-risk", "champion", "1").returncode == 0
    set_config(credit_ws, "gates:\n", "gates:\n  - roc_auc vs champion >= 0.05\n")
    p = cli(credit_ws, "run", "--junit", "out/junit.xml")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL" in p.stdout and "roc_auc vs champion >= 0.05" in p.stdout and "rejected" in p.stdout
    mv = json.loads(cli(credit_ws, "models", "show", "credit-risk:2", "--json").stdout)
    assert mv["stage"] == "rejected" and "roc_auc vs champion >= 0.05" in mv["description"]
    assert mv["reports"]["junit.xml"]
    root = ET.parse(credit_ws / "out/junit.xml").getroot()
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["roc_auc vs champion >= 0.05"]
    assert root.get("failures") == "1"
    report = json.loads((credit_ws / ".shipyard/reports/credit-risk/2/report.json").read_text())
    assert report["evaluation"]["champion"]["ref"] == "credit-risk:1"
    assert "roc_auc%" in report["evaluation"]["champion"]["diff_ci"]
    code, res = run_json(credit_ws)  # rerun: same decision from the cache, nothing new registered
    assert code == 1 and res["executed"] == [] and res["version"] == 2 and res["stage"] == "rejected"


@pytest.mark.parametrize(("column", "bad", "check"), [("Age", "abc", "type"), ("Home", "castle", "category")])
def test_bad_training_file_fails_at_validate(credit_ws: Path, column: str, bad: str, check: str) -> None:
    data = credit_ws / "data/credit.csv"
    lines = data.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[5].split(",")
    row[header.index(column)] = bad
    lines[5] = ",".join(row)
    data.write_text("\n".join(lines) + "\n")
    p = cli(credit_ws, "run", "--junit", "junit-bad.xml")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "validation failed" in p.stdout and "violations" in p.stdout
    assert column in p.stdout and bad in p.stdout and check in p.stdout
    assert "✗ validate" in p.stdout and "train" not in p.stdout.split("violations")[0].split("validate")[-1]
    code, res = run_json(credit_ws)
    assert code == 1 and res["status"] == "failed" and res["version"] is None
    assert [s["name"] for s in res["steps"]] == ["validate"]
    assert any(v["column"] == column and v["check"] == check for v in res["validation"]["violations"])
    models = json.loads(cli(credit_ws, "models", "show", "credit-risk", "--json").stdout)
    assert models["latest_version"] == 1  # nothing trained or registered
    junit = ET.parse(credit_ws / "junit-bad.xml").getroot()
    assert junit.get("failures") == "1"


def test_yaml_typo_exits_2_naming_the_key(credit_ws: Path) -> None:
    set_config(credit_ws, "gates:\n", "gatse:\n")
    p = cli(credit_ws, "run")
    assert p.returncode == 2
    assert "gatse" in p.stderr and "gates" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize(("old", "new", "needle"), [
    ("  - brier <= 0.2\n", "  - brier <== 0.2\n", "gates[1]"),
    ("train: data/credit.csv", "train: data/nope.csv", "data.train"),
    ("train: pipeline/train.py:train", "train: pipeline/train.py:fit", "pipeline.train"),
    ("slices: [Home, Job]", "slices: [Home, Nope]", "Nope"),
])
def test_bad_config_values_exit_2(credit_ws: Path, old: str, new: str, needle: str) -> None:
    set_config(credit_ws, old, new)
    p = cli(credit_ws, "run")
    assert p.returncode == 2, p.stdout + p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr


def test_model_card_markdown_and_html(credit_ws: Path) -> None:
    p = cli(credit_ws, "models", "card", "credit-risk:1", "-o", "cards")
    assert p.returncode == 0, p.stderr
    md = (credit_ws / "cards/model-card.md").read_text()
    for section in ("## Intended use", "## Data", "## Metrics", "## Slices", "## Fairness", "## Limitations",
                    "## Lineage"):
        assert section in md
    assert "credit@1" in md and "roc_auc" in md and "Marital" in md
    html = (credit_ws / "cards/model-card.html").read_text()
    assert "<h2>Limitations</h2>" in html and "credit-risk:1" in html
    assert cli(credit_ws, "models", "card", "credit-risk:9").returncode == 2
