"""The monitor scheduler: each check of ``monitor:`` runs every ``every`` on each endpoint, over its window.

It runs where the rollout controller runs, as one of the controller's hooks (``Controller.hooks``): it
only acts while that process holds the controller's leader lease, so among several servers exactly one
monitors. Each due check reads the window (shared by the checks with the same window in one tick), judges
every version that answered in it (the main one — most rows — always; others with at least ``min_rows``),
stores a result per version and raises or resolves alerts on the main version's result. A failing
endpoint or check is logged and retried at its next due time; it never stops the others or the loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shipyard.core.alerting import Decision
from shipyard.errors import ShipyardError
from shipyard.monitoring import alerts, checks
from shipyard.monitoring.actions import Actions
from shipyard.monitoring.spec import CheckSpec, MonitorSpec
from shipyard.monitoring.window import Reference, Window, read_window, reference_of

log = logging.getLogger("shipyard.monitor")


@dataclass
class Scheduler:
    ws: Any  # the workspace, acting as the ``monitor`` principal
    spec: MonitorSpec
    notifier: Any = None
    actions: Actions | None = None
    _next: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _refs: dict[tuple[str, int], Reference] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.actions is None:
            cfg = self.ws.config
            default = (cfg.data.dataset if cfg.data is not None and cfg.data.dataset else None) or cfg.model
            self.actions = Actions(self.ws.db, self.ws.clock, self.spec, self.ws.root, self.ws.rollouts,
                                   self.ws.datasets, default, self.ws.settings, config=cfg)

    def tick(self) -> int:
        """Run the checks that are due; returns how many ran."""
        assert self.actions is not None
        self.actions.poll()
        now = self.ws.clock.now()
        try:
            names = self.spec.endpoints or [e.name for e in self.ws.endpoints.list()]
        except ShipyardError as exc:
            log.warning("monitor: cannot list endpoints: %s", exc)
            return 0
        windows: dict[tuple[str, str, float], Window] = {}
        ran = 0
        for name in names:
            for check_name, check in self.spec.checks().items():
                key = (name, check_name)
                if now < self._next.get(key, now):
                    continue
                self._next[key] = now + timedelta(seconds=self.spec.every_s(check))
                try:
                    self.run_check(name, check_name, check, windows, now)
                    ran += 1
                except ShipyardError as exc:
                    log.warning("monitor %s/%s: %s", name, check_name, exc)
                except Exception:  # noqa: BLE001 - one broken check must not stop the others; logged in full
                    log.exception("monitor %s/%s: failed", name, check_name)
        return ran

    def run_check(self, endpoint: str, check_name: str, check: CheckSpec,
                  windows: dict[tuple[str, str, float], Window] | None = None, now: datetime | None = None
                  ) -> list[checks.CheckResult]:
        """One check on one endpoint now: results stored, alerts judged, sinks and actions run."""
        now = now or self.ws.clock.now()
        ep = self.ws.endpoints.get(endpoint)
        kind, size = self.spec.window_of(check)
        windows = {} if windows is None else windows
        w = windows.get((endpoint, kind, size))
        if w is None:
            w = windows[(endpoint, kind, size)] = read_window(self.ws.artifacts, endpoint, kind, size, now)
        versions = w.versions()
        if not versions:
            empty = checks.CheckResult(check_name, None, 0, enough=False, detail={"note": "nothing logged"})
            alerts.store_result(self.ws.db, endpoint, empty, "insufficient", now, w.start, w.end)
            return [empty]
        cfg = self.ws.config.serving
        skip = set(cfg.log_hash_columns) | set(cfg.log_drop_columns)
        feedback: dict[tuple[str, int | None], Any] = {}
        if check_name == "performance":
            from shipyard.telemetry import feedback_store

            feedback = {(f["request_id"], f["row"]): f["label"] for f in feedback_store.list_for(self.ws.db, endpoint)}
        out = []
        primary = versions[0][0]
        for version, rows in versions:
            if version != primary and rows < check.min_rows:
                continue
            ref = self._ref(ep.model, version)
            table = w.of(version)
            if check_name == "drift":
                result = checks.drift(table, ref, check, skip)
            elif check_name == "quality":
                result = checks.quality(table, ref, check, skip)
            else:
                result = checks.performance(table, ref, check, endpoint, feedback)
            status = alerts.status_of(result, self.spec)
            rid = alerts.store_result(self.ws.db, endpoint, result, status, now, w.start, w.end)
            out.append(result)
            if version == primary:
                self._alert(endpoint, result, rid)
        return out

    def _alert(self, endpoint: str, result: checks.CheckResult, result_id: int) -> None:
        assert self.actions is not None
        for decision, alert in alerts.judge(self.ws.db, self.ws.clock, self.spec, endpoint, result, result_id):
            alerts.notify(self.notifier, self.spec, decision, alert)
            if decision in (Decision.FIRE, Decision.ESCALATE):
                self.actions.on_alert(alert)

    def _ref(self, model: str, version: int) -> Reference:
        key = (model, version)
        if key not in self._refs:
            self._refs[key] = reference_of(self.ws.models, self.ws.datasets, self.ws.endpoints, model, version)
        return self._refs[key]


def for_workspace(ws: Any, notifier: Any = None) -> Scheduler | None:
    """The scheduler for ``ws``'s ``monitor:`` section (None without one), acting as ``monitor``."""
    if ws.config.monitor is None:
        return None
    return Scheduler(ws.as_principal(alerts.ACTOR), ws.config.monitor, notifier or ws.notifier)
