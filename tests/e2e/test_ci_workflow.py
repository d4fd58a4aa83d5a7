"""`shipyard ci init github`: the workflow validates against GitHub's workflow schema (vendored from
SchemaStore), and its jobs' `run:` commands, executed in order in a fresh workspace as a runner would, exit
0 on a passing model and 1 on a failing gate (`gh` steps skipped: they need GitHub)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")
SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "github-workflow.json"
BIN = str(Path(sys.executable).parent)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIPYARD_", "GITHUB_"))}
    return env | {"PATH": BIN + os.pathsep + env.get("PATH", ""), "COLUMNS": "200"}


def shipyard(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(root), *args],
                          env=_env() | {"SHIPYARD_ACTOR": "alice"}, capture_output=True, text=True, timeout=600)


def _expand(value: str, inputs: dict[str, str]) -> str:
    """GitHub's expression substitution for what the test can know: secrets are unset (empty), inputs given."""
    def sub(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if expr.startswith("secrets."):
            return ""
        if expr.startswith("inputs."):
            return inputs[expr.removeprefix("inputs.")]
        if expr == "github.token":
            return ""
        raise AssertionError(f"unexpected expression in a run step's env: {expr}")
    return re.sub(r"\$\{\{(.*?)\}\}", sub, value)


def run_job(root: Path, wf: dict, job: str, inputs: dict[str, str] | None = None) -> list[tuple[str, int, str]]:
    """Run the job's steps like a runner: `bash -eo pipefail`, a fresh GITHUB_STEP_SUMMARY per step, later
    steps skipped after a failure unless their `if` asks for always(). Returns (step, exit code, summary)."""
    inputs = inputs or {}
    base = _env() | {k: _expand(str(v), inputs) for k, v in wf.get("env", {}).items()}
    results: list[tuple[str, int, str]] = []
    failed = False
    for i, step in enumerate(wf["jobs"][job]["steps"]):
        script = step.get("run")
        if script is None or script.startswith("pip install"):
            continue  # actions/checkout, setup-python and the install: the runner's setup, done here already
        if failed and "always()" not in str(step.get("if", "")):
            continue
        if script.lstrip().startswith("gh "):
            results.append((step["name"], -1, ""))  # needs GitHub (a pull request and a token): not run here
            continue
        summary = root.parent / f"summary-{job}-{i}.md"
        summary.write_text("")
        env = base | {k: _expand(str(v), inputs) for k, v in step.get("env", {}).items()}
        env["GITHUB_STEP_SUMMARY"] = str(summary)
        p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=root, env=env,
                           capture_output=True, text=True, timeout=900)
        assert "Traceback" not in p.stderr, p.stderr
        results.append((step["name"], p.returncode, summary.read_text()))
        failed = failed or p.returncode != 0
    return results


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "repo"
    assert shipyard(tmp_path, "init", str(root), "--example", "credit").returncode == 0
    cfg = root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("bootstrap: 200", "bootstrap: 20"))
    p = shipyard(root, "ci", "init", "github")
    assert p.returncode == 0, p.stderr
    wf = yaml.safe_load((root / ".github/workflows/shipyard.yml").read_text())
    return root, wf


def test_workflow_validates_against_the_vendored_schema(project) -> None:
    root, _ = project
    text = (root / ".github/workflows/shipyard.yml").read_text()
    doc = yaml.safe_load(text)
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert not [e.message for e in validator.iter_errors(doc)]
    # every step past the runner's setup is a plain shipyard command (or gh for the PR comment)
    for job in doc["jobs"].values():
        for step in job["steps"]:
            if "run" in step and not step["run"].startswith("pip install"):
                assert step["run"].startswith(("shipyard ", "gh ")), step["run"]
    assert doc["jobs"]["deploy"]["environment"]["name"] == "production"
    assert "${{" not in doc["jobs"]["deploy"]["steps"][-1]["run"]  # inputs reach the shell through env only
    broken = json.loads(json.dumps(doc))
    broken["jobs"]["check"]["runs_on"] = broken["jobs"]["check"].pop("runs-on")
    assert list(validator.iter_errors(broken))  # the schema does catch a malformed workflow
    again = shipyard(root, "ci", "init", "github")
    assert again.returncode == 2 and "--force" in again.stderr


def test_workflow_steps_pass_register_request_approval_and_deploy(project) -> None:
    root, wf = project
    pr = run_job(root, wf, "check")
    assert [(name, rc) for name, rc, _ in pr] == [("Validate data", 0), ("Train, evaluate and gate", 0),
                                                  ("Comment the gate table on the pull request", -1)]
    summary = pr[1][2]
    assert "| gate |" in summary and "FAIL" not in summary and "credit-risk:1" in summary
    assert (root / "junit.xml").is_file() and (root / "gates.md").read_text() == summary
    main = run_job(root, wf, "register")
    assert [rc for _, rc, _ in main] == [0, 0, 0]
    mv = json.loads(shipyard(root, "models", "show", "credit-risk:1", "--json").stdout)
    assert mv["stage"] == "validated" and mv["tags"]["approval"] == "requested"
    # the approver (another principal: separation of duties) approves outside CI; then the manual deploy
    ok = subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(root), "approve", "credit-risk:1"],
                        env=_env() | {"SHIPYARD_ACTOR": "bob"}, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    deploy = run_job(root, wf, "deploy", {"ref": "credit-risk:1"})
    assert [rc for _, rc, _ in deploy] == [0]
    ep = json.loads(shipyard(root, "endpoints", "show", "credit-risk", "--json").stdout)
    assert ep["routing"]["routes"] == [{"version": 1, "weight": 100}]


def test_workflow_fails_with_exit_1_on_a_failing_gate(project) -> None:
    root, wf = project
    cfg = root / "shipyard.yaml"
    cfg.write_text(cfg.read_text().replace("  - roc_auc >= 0.75", "  - roc_auc >= 0.999"))
    pr = run_job(root, wf, "check")
    assert [(name, rc) for name, rc, _ in pr] == [("Validate data", 0), ("Train, evaluate and gate", 1),
                                                  ("Comment the gate table on the pull request", -1)]
    assert "FAIL" in pr[1][2] and "roc_auc >= 0.999" in pr[1][2]
    main = run_job(root, wf, "register")
    assert [rc for _, rc, _ in main] == [0, 1]  # no approval is requested for a rejected version
