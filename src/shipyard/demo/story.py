"""The five beats of the demo, each a handful of `shipyard` commands, checked as they happen."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from shipyard.demo.procs import Shell, Traffic, free_port, held_out, held_out_rows, wait_http

HELD_OUT = 1500  # applications v1 never sees: v2 trains on all 4,454, the clients send these
FOREST = '''"""A 600-tree random forest: as accurate offline, but each prediction walks 600 trees (slow live)."""
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder


def train(X, y, params):
    categorical = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numeric = [c for c in X.columns if c not in categorical]
    features = ColumnTransformer([
        ("categories", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                 ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
         categorical),
        ("numbers", SimpleImputer(strategy="median"), numeric),
    ])
    forest = RandomForestClassifier(n_estimators=600, min_samples_leaf=5, n_jobs=1, random_state=0)
    return Pipeline([("features", features), ("model", forest)]).fit(X, y)
'''
DEMO_CONFIG = """
deploy:
  endpoint: credit-risk
  strategy: canary
  steps: [25, 50, 100]
  interval: 3s
  min_requests: 8
  max_inconclusive: 60
  failure_limit: 1
  grace_period: 5s
  analysis: [error_rate < 0.02, p99_latency_ms < 3 x stable]
serving: {metrics_interval: 1}
monitor:
  every: 3s
  window: 200
  drift: {warning: 0.1, critical: 0.25, min_rows: 100}
  performance: {}
  cooldown: 1h
  retrain: {on: [drift.critical], cooldown: 1h, dataset: credit@2}  # the full, clean data (credit@3 is corrupted)
"""


class Story:
    def __init__(self, root: Path, console: Console) -> None:
        self.root, self.con = root, console
        self.sh = Shell(root)
        self.beats: list[tuple[str, str, bool]] = []
        self.procs: list[Any] = []
        self.traffic: Traffic | None = None
        self.api_port = self.gw_port = 0
        self.held: list[int] = []

    # -- output ----------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        self.con.print(f"\n[bold cyan]== {text}[/]")

    def cmd(self, *args: str, actor: str = "alice", check: bool = True, show: int = 6) -> Any:
        self.con.print(f"[dim]$ {'SHIPYARD_ACTOR=' + actor + ' ' if actor != 'alice' else ''}shipyard "
                       f"{' '.join(args)}[/]")
        proc = self.sh.run(*args, actor=actor, check=check)
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        for ln in lines[:show]:
            self.con.print(f"  {ln}", markup=False, highlight=False)
        if len(lines) > show:
            self.con.print(f"  [dim]… {len(lines) - show} more line(s)[/]")
        return proc

    def beat(self, name: str, evidence: str, ok: bool) -> None:
        self.beats.append((name, evidence, ok))
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        self.con.print(f"{mark} {name}: {evidence}")
        if not ok:
            raise RuntimeError(f"demo beat failed: {name}: {evidence}")

    # -- the set-up ---------------------------------------------------------------------------------
    def setup(self) -> None:
        self.say("A workspace from the credit example (4,454 applications; R package modeldata, MIT licence)")
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        self.cmd("init", "--example", "credit")
        full = self.root / "data" / "credit.csv"
        shutil.copy(full, self.root / "data" / "credit-full.csv")
        self.held = held_out_rows(full)
        import pandas as pd

        df = pd.read_csv(full)
        df.drop(index=self.held).to_csv(full, index=False)  # v1: the applications not held out
        (self.root / "pipeline" / "forest.py").write_text(FOREST)
        import yaml

        cfg = yaml.safe_load((self.root / "shipyard.yaml").read_text())
        cfg.update(yaml.safe_load(DEMO_CONFIG))  # faster rollouts and monitors than a real deployment's
        (self.root / "shipyard.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    def start_servers(self) -> None:
        self.api_port, self.gw_port = free_port(), free_port()
        gw = f"http://127.0.0.1:{self.gw_port}"
        self.procs.append(self.sh.start("serve", "--port", str(self.gw_port), "--log-level", "warning",
                                        log_name="gateway.log"))
        self.procs.append(self.sh.start("server", "--port", str(self.api_port), "--log-level", "warning",
                                        "--gateway", gw, log_name="server.log"))
        wait_http(f"{gw}/v2/health/ready")
        wait_http(f"http://127.0.0.1:{self.api_port}/api/v1/health")
        rows, labels = held_out(self.root / "data" / "credit-full.csv", self.held)
        self.traffic = Traffic(gw, rows, labels).start()
        self.con.print(f"gateway on {gw} and control plane + dashboard on http://127.0.0.1:{self.api_port}/ ; "
                       "40 client requests a second, each labelled later (feedback)")

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except Exception:  # noqa: BLE001
                p.kill()

    # -- helpers ------------------------------------------------------------------------------------
    def train(self, expect_exit: int = 0) -> Any:
        proc = self.cmd("run", check=False, show=12)
        if proc.returncode != expect_exit:
            raise RuntimeError(f"`shipyard run` exited {proc.returncode}, expected {expect_exit}:\n"
                               f"{proc.stdout}\n{proc.stderr}")
        return proc

    def latest(self) -> dict[str, Any]:
        """The newest version of credit-risk."""
        versions = self.sh.json("models", "show", "credit-risk")["versions"]
        return dict(max(versions, key=lambda v: v["version"]))

    def approve(self, ref: str) -> None:
        self.cmd("approve", ref, "--reason", "evaluation, fairness and gates reviewed", actor="carol")

    def watch_rollout(self, timeout: float = 180) -> dict[str, Any]:
        seen = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.sh.json("rollout", "status", "credit-risk")
            now = (st["state"], st["step"], str(st["weights"]))
            if now != seen:
                seen = now
                last = (st.get("analyses") or [{}])[-1]
                mine = [c for c in last.get("checks", []) if c.get("version") == st["candidate"]]
                checks = ", ".join(f"{c['check']} v{c['version']}={_num(c['value'])} {c['verdict']}" for c in mine)
                self.con.print(f"  rollout {st['state']:<11} step {st['step']} weights {st['weights']}"
                               + (f"  [dim]{checks}[/]" if checks else ""))
            if st["state"] not in ("progressing", "paused"):
                return dict(st)
            time.sleep(1)
        raise RuntimeError(f"the rollout did not finish within {timeout:.0f} s")

    def latest_of(self, version: int) -> dict[str, Any]:
        return dict(self.sh.json("models", "show", f"credit-risk:{version}"))


def _num(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4g}"
