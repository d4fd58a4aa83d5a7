"""A monitor-triggered retrain never runs the workspace's training code in a process that holds secrets.

The process running the monitor (this test process, as in `test_monitor_e2e.py`) has a PostgreSQL URL with a
password, `SHIPYARD_AUDIT_KEY` and cloud credentials in its environment and settings. The workspace's train
function, when it runs, writes its `os.environ`, its pid, and what it could read of its parents' environments
and of the store's files to a file. A critical drift alert triggers the `retrain` action: a new version is
registered with lineage to the dataset version it trained on, gated by shipyard (sealed evidence), audited as
`monitor`; the file holds no secret and a pid that is neither the monitor's nor the run process's. The
dataset's newest version is a corrupted upload: the retrain skips it, names it, and trains on the newest
version that passes validation.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.builders import approve

from shipyard.config import Settings
from shipyard.flavors.confine import landlock_abi
from shipyard.monitoring import alerts
from shipyard.monitoring.checks import CheckResult
from shipyard.monitoring.scheduler import for_workspace
from shipyard.monitoring.service import MonitorService
from shipyard.pipeline.examples import write_example
from shipyard.pipeline.runner import run_pipeline
from shipyard.workspace import Workspace

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_SECRET = "pg-password-" + uuid.uuid4().hex
AUDIT_KEY = "audit-key-" + uuid.uuid4().hex
CLOUD_SECRET = "aws-secret-" + uuid.uuid4().hex

SPY = '''
import json
import os
from pathlib import Path

OUT = @OUT@


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"refused: {type(exc).__name__}"


def _parent_of(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _write(path):
    try:
        with open(path, "a") as f:
            f.write("# planted by the train step\\n")
        return "written"
    except OSError as exc:
        return f"refused: {type(exc).__name__}"


def _connect(port):
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
        return "connected"
    except OSError as exc:
        return f"refused: {type(exc).__name__}"


def spy():
    parent = os.getppid()
    grandparent = _parent_of(parent)
    doc = {"pid": os.getpid(), "ppid": parent, "env": dict(os.environ), "cwd": os.getcwd(),
           "proc_self": _read("/proc/self/environ"), "proc_parent": _read(f"/proc/{parent}/environ"),
           "proc_grandparent": _read(f"/proc/{grandparent}/environ") if grandparent else "",
           "state": {name: _read(os.path.join(".shipyard", name)) for name in ("evidence.key", "shipyard.db")},
           "plant": _write("shipyard.yaml"), "tcp": _connect(@PORT@)}
    Path(OUT, f"train-{os.getpid()}.json").write_text(json.dumps(doc))
'''


def spy_workspace(root: Path, out: Path, port: int = 5432) -> None:
    """The wine example whose train function first runs the spy."""
    write_example(root, "wine")
    train = root / "pipeline" / "train.py"
    code = train.read_text()
    head, sep, body = code.partition("def train(")
    body = body.replace("    return Pipeline(", "    spy()\n    return Pipeline(", 1)
    train.write_text(head + SPY.replace("@OUT@", repr(str(out))).replace("@PORT@", str(port)) + "\n\n" + sep + body)


def dumps(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("train-*.json"))]


def assert_clean(doc: dict[str, Any], secrets: list[str], forbidden_pids: set[int]) -> None:
    text = json.dumps(doc)
    for secret in secrets:
        assert secret not in text, f"a secret reached the training code: {secret[:24]}..."
    assert not [k for k in doc["env"] if k.startswith(("SHIPYARD_", "AWS_")) or k in ("DATABASE_URL", "PGPASSWORD")]
    assert doc["pid"] not in forbidden_pids, "the training code ran in a process that holds the secrets"
    assert "PATH" in doc["env"]  # the harmless variables are kept


def wait_for(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_a_monitor_retrain_runs_the_training_code_without_secrets_and_registers_a_gated_candidate(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db_url = pg_url.replace("://postgres@", f"://postgres:{PG_SECRET}@", 1)
    assert PG_SECRET in db_url
    for key, value in {"SHIPYARD_DB_URL": db_url, "SHIPYARD_AUDIT_KEY": AUDIT_KEY, "DATABASE_URL": db_url,
                       "PGPASSWORD": PG_SECRET, "AWS_SECRET_ACCESS_KEY": CLOUD_SECRET}.items():
        monkeypatch.setenv(key, value)
    settings = Settings(db_url=db_url, audit_key=AUDIT_KEY, actor="alice")  # type: ignore[arg-type]
    root, out = tmp_path / "ws", tmp_path / "spy"
    out.mkdir()
    Workspace.init(root, settings=settings).close()
    spy_workspace(root, out, urlsplit(pg_url).port or 5432)
    with (root / "shipyard.yaml").open("a") as fh:
        fh.write("monitor:\n  drift: {warning: 0.1, critical: 0.25}\n  retrain: {on: [drift.critical], cooldown: 1h}\n"
                 f"sandbox: {{train_writable: [{out}]}}\n")  # where the spy may write its report
    ws = Workspace.open(root, settings=settings)
    try:
        first = run_pipeline(ws, isolation="subprocess")
        assert first.status == "succeeded", first.error
        approve(ws, f"wine-cultivar:{first.version}")
        ws.endpoints.deploy(f"wine-cultivar:{first.version}", "wine")
        # new data arrives (a valid version with more rows), then a corrupted upload (alcohol x100)
        lines = (root / "data" / "wine.csv").read_text().splitlines()
        more = root / "data" / "wine-more.csv"
        more.write_text("\n".join(lines + lines[1:40]) + "\n")
        good = ws.datasets.add(more, name="wine")
        bad_rows = [",".join([str(float(r.split(",")[0]) * 100), *r.split(",")[1:]]) for r in lines[1:]]
        bad = root / "data" / "wine-bad.csv"
        bad.write_text("\n".join([lines[0], *bad_rows]) + "\n")
        corrupted = ws.datasets.add(bad, name="wine")
        assert corrupted.version > good.version
        before = {d["pid"] for d in dumps(out)}

        sched = for_workspace(ws)
        assert sched is not None and sched.actions is not None
        result = CheckResult("drift", first.version, 500, {"share_drifted": 0.6, "n_drifted": 8.0, "columns": 13.0},
                             {"drifted": ["alcohol"]}, headline="share_drifted", enough=True)
        rid = alerts.store_result(ws.db, "wine", result, alerts.status_of(result, sched.spec), ws.clock.now(),
                                  None, ws.clock.now())
        fired = [a for d, a in alerts.judge(ws.db, ws.clock, sched.spec, "wine", result, rid)
                 if a["severity"] == "critical"]
        assert fired, "the drift result did not fire a critical alert"
        alert = fired[0]
        sched.actions.on_alert(alert)
        started = alert["actions"][-1]
        assert started["status"] == "started", started
        assert started["dataset"] == good.ref and started["isolation"] == "subprocess"
        assert [s["ref"] for s in started["skipped"]] == [corrupted.ref]
        assert "alcohol: range" in started["skipped"][0]["reason"]

        monitors = MonitorService(ws.db, ws.actor, ws.clock)

        def finished() -> Any:
            sched.actions.poll()  # type: ignore[union-attr]
            stored = next(a for a in monitors.alerts("wine") if a["id"] == alert["id"])
            return next((x for x in stored["actions"] if x["action"] == "retrain" and x["status"] != "started"), None)

        done = wait_for(finished, timeout=240)
        assert done["status"] == "finished" and done["exit_code"] in (0, 1), Path(done["log"]).read_text()
        new = ws.models.get_version(done["version"])
        assert new.version > first.version and new.stage in ("validated", "rejected")
        assert new.created_by == "monitor"
        assert any(link.get("kind") == "dataset" and link["ref"] == good.ref for link in new.lineage)
        assert any(link.get("kind") == "run" and link["ref"] == done["run_id"] for link in new.lineage)
        assert new.evidence["source"] == "pipeline-run" and new.evidence["verified"], new.evidence
        assert new.evidence["gates_passed"] == (new.stage == "validated")
        actors = {(e.actor, e.action) for e in ws.audit.log(limit=500)}
        assert {("monitor", "pipeline.run.start"), ("monitor", "alert.action.retrain")} <= actors
        assert ws.audit.verify(require_keyed=True).ok  # the keyed chain is intact

        retrain = [d for d in dumps(out) if d["pid"] not in before]
        assert len(retrain) == 1, "the train step did not run (or ran twice) in the retrain"
        secrets = [AUDIT_KEY, PG_SECRET, db_url, CLOUD_SECRET, pg_url.rsplit("/", 1)[1].split("?")[0]]
        for doc in dumps(out):  # the first run was isolated too
            assert_clean(doc, secrets, {os.getpid(), int(started["pid"])})
        doc = retrain[0]
        assert doc["ppid"] != os.getpid() and Path(doc["cwd"]) == root
        # the parents holding the secrets are non-dumpable and the child holds no capability: /proc is shut
        assert doc["proc_parent"].startswith("refused") and doc["proc_grandparent"].startswith("refused"), doc
        if landlock_abi() >= 1:  # the kernel confines the child: no write outside its private directory
            assert doc["plant"].startswith("refused"), doc["plant"]
            assert "# planted" not in (root / "shipyard.yaml").read_text()
        if landlock_abi() >= 4:  # no TCP either (sandbox.train_network is off): nowhere to send what it read
            assert doc["tcp"].startswith("refused: PermissionError"), doc["tcp"]
    finally:
        ws.close()
