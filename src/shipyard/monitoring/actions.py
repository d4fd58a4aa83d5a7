"""What a firing alert may trigger: ``rollback`` and ``retrain`` (``monitor.rollback`` / ``monitor.retrain``).

- ``rollback``: when the endpoint's newest rollout was promoted less than ``within`` ago, the rollout
  service routes 100% back to the version it replaced (that version stays loadable: ``retired`` is
  servable); a rollout still live is aborted instead (the controller's own rollback to stable).
- ``retrain``: ``shipyard run --dataset NAME@VERSION --isolation subprocess`` in a subprocess of the workspace
  folder, acting as ``monitor``. That process holds the store's credentials and keys and runs only shipyard's
  code (``python -P``: the workspace is not on its import path); the user's train function runs in a
  sandboxed grandchild without them (``pipeline/executors/isolated.py``), and this server is made
  non-dumpable first. The result is the pipeline's: a version ``validated`` if shipyard's gates pass,
  ``rejected`` otherwise — never approved or deployed here. The data: ``retrain.dataset`` when set, else the
  newest version of the workspace's dataset that passes validation (``pipeline/steps/validate.newest_valid``;
  newer versions that fail are named in the action as ``skipped``). Not again within ``retrain.cooldown`` of
  the last start (any endpoint: they retrain the same model). The running process is polled each tick and
  its outcome recorded.

Each action is recorded in the alert row (``actions``) and in the audit log, in one transaction.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock, iso
from shipyard.config import parse_duration
from shipyard.core import alerting
from shipyard.errors import ShipyardError
from shipyard.flavors.sandbox import protect_parent
from shipyard.governance import audit
from shipyard.monitoring.alerts import ACTOR
from shipyard.monitoring.spec import MonitorSpec
from shipyard.rollout import records
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

log = logging.getLogger("shipyard.monitor")
A = t.alerts


@dataclass
class Running:
    alert_id: int
    proc: subprocess.Popen[bytes]
    out: Path
    dataset: str


@dataclass
class Actions:
    db: Database
    clock: Clock
    spec: MonitorSpec
    root: Path  # the workspace folder (the retrain subprocess runs there)
    rollouts: Any  # RolloutService acting as ACTOR
    datasets: Any  # DatasetService
    default_dataset: str | None  # data.dataset or the model name
    settings: Any = None  # the process's Settings: the store the child must register into
    config: Any = None  # the workspace's ProjectConfig: data.target and validation, to choose the dataset version
    running: list[Running] = field(default_factory=list)

    def on_alert(self, alert: dict[str, Any]) -> None:
        """Run every action whose ``on`` names this (fired or escalated) alert."""
        rule, sev = alert["rule"], alert["severity"]
        if self.spec.rollback is not None and alerting.triggered(self.spec.rollback.on, rule, sev):
            self._record(alert, self._rollback(alert))
        if self.spec.retrain is not None and alerting.triggered(self.spec.retrain.on, rule, sev):
            self._record(alert, self._retrain(alert))

    # -- rollback ------------------------------------------------------------------------------
    def _rollback(self, alert: dict[str, Any]) -> dict[str, Any]:
        assert self.spec.rollback is not None
        endpoint, now = alert["endpoint"], self.clock.now()
        entry: dict[str, Any] = {"action": "rollback", "at": iso(now)}
        with self.db.read() as conn:
            last = records.latest(conn, endpoint)
        within = parse_duration(self.spec.rollback.within, "monitor.rollback.within")
        try:
            if last is None:
                return {**entry, "status": "skipped", "reason": "the endpoint has no rollout to undo"}
            if last.state in ("progressing", "paused"):
                view = self.rollouts.command(endpoint, "abort", f"alert {alert['id']}: {alert['message']}")
                return {**entry, "status": "done", "rollout": int(last.id), "detail": f"rollout aborted ({view.state})",
                        "version": int(last.stable)}
            finished = records.aware(last.finished_at)
            if last.state != "promoted" or finished is None or now - finished > timedelta(seconds=within):
                return {**entry, "status": "skipped", "reason": f"the last promotion is not within {within:g}s "
                                                                f"(rollout {last.id}: {last.state})"}
            self.rollouts.deploy(f"{last.model}:{last.stable}", endpoint, weight=100)
            return {**entry, "status": "done", "rollout": int(last.id), "version": int(last.stable),
                    "detail": f"100% to {last.model}:{last.stable} (replaced by rollout {last.id})"}
        except ShipyardError as exc:
            return {**entry, "status": "failed", "reason": str(exc)}

    # -- retrain -------------------------------------------------------------------------------
    def _retrain(self, alert: dict[str, Any]) -> dict[str, Any]:
        assert self.spec.retrain is not None
        now = self.clock.now()
        entry: dict[str, Any] = {"action": "retrain", "at": iso(now)}
        cooldown = parse_duration(self.spec.retrain.cooldown, "monitor.retrain.cooldown")
        last = self._last_retrain()
        if last is not None and now < last + timedelta(seconds=cooldown):
            until = iso(last + timedelta(seconds=cooldown))
            return {**entry, "status": "skipped", "reason": f"cool-down: retrained at {iso(last)}, next after {until}"}
        try:
            dataset, skipped = self._dataset()
        except ShipyardError as exc:
            return {**entry, "status": "failed", "reason": str(exc)}
        if skipped:
            entry["skipped"] = skipped
            log.warning("monitor: retrain skips %s", "; ".join(f"{s['ref']} ({s['reason']})" for s in skipped))
        folder = self.root / ".shipyard" / "monitor"
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"retrain-{alert['id']}-{now.strftime('%Y%m%dT%H%M%S')}"
        env = self._child_env()
        protect_parent()  # the sandboxed grandchild must not read this process's environment through /proc
        with open(out.with_suffix(".json"), "wb") as stdout, open(out.with_suffix(".log"), "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-P", "-m", "shipyard.cli.main", "-C", str(self.root), "run",
                                     "--dataset", dataset, "--json", "--isolation", "subprocess"], cwd=self.root,
                                    env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        self.running.append(Running(int(alert["id"]), proc, out, dataset))
        log.warning("monitor: retraining on %s for alert %s (pid %s)", dataset, alert["id"], proc.pid)
        return {**entry, "status": "started", "dataset": dataset, "pid": proc.pid, "isolation": "subprocess"}

    def _child_env(self) -> dict[str, str]:
        """The run process gets the store it registers into (and the audit key that chain needs), acting as
        ``monitor``; not the API's token, the server URL or the log hash key. It runs no user code: its train
        step's child gets ``sandbox.scrubbed_env`` instead (none of these)."""
        drop = {"SHIPYARD_SERVER", "SHIPYARD_TOKEN", "SHIPYARD_LOG_HASH_KEY"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        s = self.settings
        if s is not None:
            for key, value in (("SHIPYARD_DB_URL", s.db_url), ("SHIPYARD_ARTIFACTS_URL", s.artifacts_url),
                               ("SHIPYARD_AUDIT_KEY", s.audit_key.get_secret_value() if s.audit_key else None)):
                if value:
                    env[key] = value
        env["SHIPYARD_ACTOR"] = ACTOR.name
        return env

    def _dataset(self) -> tuple[str, list[dict[str, Any]]]:
        """``retrain.dataset`` as given, else the newest version of the default dataset that passes validation
        (and the newer ones skipped): never an upload that fails the validate step's rule."""
        if self.spec.retrain is not None and self.spec.retrain.dataset:
            return str(self.datasets.show(self.spec.retrain.dataset.replace(":", "@", 1)).ref), []
        if not self.default_dataset:
            from shipyard.errors import InvalidInputError

            raise InvalidInputError(field="monitor.retrain.dataset", value=None,
                                    expected="NAME@VERSION, or a workspace with data.dataset / model set")
        from shipyard.config import ValidationSpec
        from shipyard.pipeline.steps.validate import newest_valid

        cfg = self.config
        validation = (cfg.validation if cfg is not None else ValidationSpec()).model_dump(by_alias=True)
        target = cfg.data.target if cfg is not None and cfg.data is not None else None
        dv, skipped = newest_valid(self.db, self.datasets, self.default_dataset, target, validation)
        return str(dv.ref), skipped

    def _last_retrain(self) -> datetime | None:
        with self.db.read() as conn:
            rows = conn.execute(select(A.c.actions).order_by(A.c.id.desc()).limit(500)).all()
        stamps = [datetime.fromisoformat(a["at"]) for r in rows for a in (r.actions or [])
                  if a.get("action") == "retrain" and a.get("status") == "started"]
        return max(stamps) if stamps else None

    def poll(self) -> int:
        """Record the outcome of retrain subprocesses that finished; returns how many did."""
        done = [r for r in self.running if r.proc.poll() is not None]
        for r in done:
            self.running.remove(r)
            code = r.proc.returncode
            result: dict[str, Any] = {}
            try:
                result = json.loads(r.out.with_suffix(".json").read_text() or "{}")
            except (OSError, ValueError):
                pass
            version = result.get("version")
            ref = f"{result.get('model')}:{version}" if version is not None else None
            entry = {"action": "retrain", "at": iso(self.clock.now()), "status": "finished" if code in (0, 1)
                     else "failed", "exit_code": code, "dataset": r.dataset, "run_id": result.get("run_id"),
                     "version": ref, "stage": result.get("stage"), "run_status": result.get("status"),
                     "log": str(r.out.with_suffix(".log"))}
            log.warning("monitor: retrain for alert %s ended (exit %s): %s", r.alert_id, code, ref or "no version")
            with self.db.read() as conn:
                row = conn.execute(select(A).where(A.c.id == r.alert_id)).first()
            if row is not None:
                from shipyard.monitoring.alerts import to_dict

                self._record(to_dict(row), entry)
        return len(done)

    def _record(self, alert: dict[str, Any], entry: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            row = conn.execute(select(A.c.actions).where(A.c.id == alert["id"])).one()
            conn.execute(A.update().where(A.c.id == alert["id"]).values(actions=[*(row.actions or []), entry]))
            audit.append(conn, ACTOR.name, f"alert.action.{entry['action']}",
                         f"alert:{alert['id']}:endpoint:{alert['endpoint']}", None, entry, self.clock)
        alert.setdefault("actions", []).append(entry)
