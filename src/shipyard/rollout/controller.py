"""The rollout controller: each tick, the lease holder judges every live rollout whose interval is due and
applies the state machine's decision (``core.rollout``) through ``records.commit``.

The loop only gathers inputs (metric provider, prediction log, feedback, smoke test) and persists results;
every decision is ``core.analysis.evaluate`` + ``core.rollout.transition``. A rollback is committed first on
its own (weights to 100% stable, in the same transaction as its audit event); the analysis that caused it is
recorded after. Notifications and stage bookkeeping follow a committed transition and never block it.
It runs in ``shipyard server`` and ``shipyard serve`` (``start()``: a daemon thread) and as
``shipyard rollout controller`` (the foreground loop).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select

from shipyard.clock import Clock
from shipyard.core import analysis as judge
from shipyard.core import rollout as machine
from shipyard.core.permissions import Permission, Principal, Role
from shipyard.core.rollout import Event, Notice, State, Strategy
from shipyard.errors import InvalidInputError, ShipyardError
from shipyard.rollout import records, strategies
from shipyard.rollout.endpoints import EndpointService
from shipyard.rollout.lease import Lease
from shipyard.rollout.metrics import LogRows, measure
from shipyard.rollout.notifiers import Notifier, message
from shipyard.rollout.providers.base import PROVIDERS, MetricProvider
from shipyard.rollout.service import promote_stage
from shipyard.rollout.spec import RolloutConfig
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

log = logging.getLogger("shipyard.rollout.controller")
ACTOR = Principal("rollout-controller", Role.DEPLOYER)
HOUSEKEEPING_S = 2.0  # stage bookkeeping after promotions: at most this often
LOG_METRICS = {"accuracy", "mae", "agreement", "score_mad"}
VERDICT_EVENT = {judge.Verdict.PASS: Event.ANALYSIS_PASSED, judge.Verdict.FAIL: Event.ANALYSIS_FAILED,
                 judge.Verdict.INCONCLUSIVE: Event.ANALYSIS_INCONCLUSIVE}


def create_provider(cfg: RolloutConfig, db: Database) -> MetricProvider:
    """The configured metric provider (registered by its module in ``PROVIDERS``)."""
    try:
        importlib.import_module(f"shipyard.rollout.providers.{cfg.provider}")
    except ImportError:
        pass
    make = PROVIDERS.get(cfg.provider)
    if make is None:
        raise InvalidInputError(field="deploy.provider", value=cfg.provider,
                                expected=" | ".join(sorted(PROVIDERS)) or "builtin | prometheus")
    return make(cfg.prometheus_url) if cfg.provider == "prometheus" else make(db)


STALE_LAGS = 3.0  # a gateway whose last flush is older than this many lags is no longer waited for
WINDOW_RETENTION = timedelta(days=14)  # metric windows kept (rollout analyses and the dashboard's charts)


@dataclass
class Controller:
    db: Database
    endpoints: EndpointService  # acting as the controller's principal
    clock: Clock
    artifacts: Any = None
    provider: MetricProvider | None = None  # None: each rollout's configured provider
    gateway_url: str | None = None  # blue-green smoke tests replay logged requests here when set
    lag_s: float = 10.5  # how far behind now metric windows are complete (telemetry.windows.complete_after)
    tick_s: float = 0.5
    lease: Lease | None = None
    notifier: Notifier | None = None
    leading: bool = False
    _housekept: datetime | None = None
    # run after each tick while leading (the endpoint monitors: ``monitoring.scheduler``); errors are logged
    hooks: list[Callable[[], object]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    # -- the loop --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="shipyard-rollout-controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.lease is not None:
            self.lease.release()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except ShipyardError as exc:  # the store is down, a lost race...: the next tick tries again
                log.warning("rollout controller: %s", exc)
            except Exception:  # noqa: BLE001 - a bug in one tick must not end the loop; it is logged in full
                log.exception("rollout controller: tick failed")
            self._stop.wait(self.tick_s)

    def tick(self) -> int:
        """One pass over live rollouts (only while holding the lease); returns the transitions applied."""
        lease = self.lease or Lease(self.db, self.clock)
        self.lease = lease
        self.leading = lease.acquire()
        if not self.leading:
            return 0
        with self.db.read() as conn:
            rows = records.live_rows(conn)
        applied = 0
        for r in rows:  # one rollout's trouble (a provider down, a lost race) never stalls the others
            try:
                applied += self.drive(r)
            except ShipyardError as exc:
                log.warning("rollout %s on %s: %s", r.id, r.endpoint, exc)
        now = self.clock.now()
        if self._housekept is None or now >= self._housekept + timedelta(seconds=HOUSEKEEPING_S):
            self._housekept = now
            self.housekeeping()
        for hook in self.hooks:
            try:
                hook()
            except Exception:  # noqa: BLE001 - a monitor's bug must not stop rollouts; logged in full
                log.exception("rollout controller: hook %r failed", hook)
        return applied

    # -- one rollout ----------------------------------------------------------------------------
    def drive(self, row: Row[Any]) -> int:
        now = self.clock.now()
        due = records.aware(row.next_analysis_at)
        if due is not None and now < due:
            return 0
        cfg, st = records.config_of(row), records.state_of(row)
        step_start = records.aware(row.step_started_at) or now
        nxt = now + timedelta(seconds=cfg.interval_s)
        end = now - timedelta(seconds=self.lag_s)
        start = max(step_start, end - timedelta(seconds=cfg.interval_s))
        reason, checks, verdict = None, [], "n/a"
        if st.strategy is Strategy.BLUEGREEN and st.step == 1 and st.state is State.PROGRESSING and \
                now >= step_start + timedelta(seconds=cfg.keep_previous_s):  # paused: the standby stays
            event = Event.KEEP_PREVIOUS_EXPIRED
        elif st.strategy is Strategy.BLUEGREEN and st.step == 0:
            smoke = self._smoke(row, cfg, step_start, start, end)
            verdict = {True: "pass", False: "fail", None: "inconclusive"}[smoke.passed]
            checks = [{"check": "smoke test", "metric": "smoke", "version": st.candidate, "role": "candidate",
                       "value": smoke.ok, "threshold": smoke.sent or cfg.smoke_requests, "verdict": verdict,
                       "dry_run": False, "note": smoke.detail}]
            event = {True: Event.SMOKE_PASSED, False: Event.SMOKE_FAILED, None: Event.ANALYSIS_INCONCLUSIVE}[
                smoke.passed]
            reason = smoke.detail
            if st.state is State.PAUSED and event is Event.SMOKE_PASSED:
                event = Event.ANALYSIS_PASSED
        else:
            waiting = self._lagging(end, now)
            if waiting:  # judged on a later tick, when they have flushed past `end` or are gone
                log.debug("rollout %s: waiting for gateway(s) %s to flush through %s", row.id, waiting, end)
                return 0
            event, reason, verdict, checks = self._analyse(row, cfg, step_start, start, end)
        try:
            tr = machine.transition(cfg.core, st, event, reason)
        except machine.IllegalTransitionError as exc:
            log.warning("rollout %s: %s", row.id, exc)
            return 0
        return self._apply(row, tr, nxt, start, end, verdict, checks)

    def _lagging(self, end: datetime, now: datetime) -> list[str]:
        """The gateways seen flushing within ``STALE_LAGS x lag_s`` whose metric windows are not all in the store
        up to ``end`` (``telemetry.window_store.watermarks``): an analysis summed now would miss their requests.
        A gateway silent for longer is gone (stopped, or cut off from the store) and no longer waited for."""
        from shipyard.telemetry import window_store

        marks = window_store.watermarks(self.db, now - timedelta(seconds=STALE_LAGS * self.lag_s))
        return sorted(g for g, through in marks.items() if through < end)

    def _analyse(self, row: Row[Any], cfg: RolloutConfig, step_start: datetime, start: datetime, end: datetime
                 ) -> tuple[Event, str | None, str, list[dict[str, Any]]]:
        stable, cand = int(row.stable), int(row.candidate)
        provided = self._provider(cfg).query(row.endpoint, start, end) if end > start else {}
        checks = cfg.checks
        wants_log = cfg.strategy in (Strategy.SHADOW, Strategy.AB) or any(c.metric in LOG_METRICS for c in checks)
        rows, feedback = (self._log(row.endpoint, step_start), self._feedback(row.endpoint)) if wants_log else \
            (None, {})
        drift = self._input_drift(row, step_start) if any(c.metric == "input_drift" for c in checks) else None
        values = measure(provided, stable, cand, rows, feedback, drift)
        result = judge.evaluate(checks, values, stable, cand, cfg.min_requests)
        n = int(values[cand].get("requests") or 0)
        entries = [{"check": f"requests >= {cfg.min_requests} (min_requests)", "metric": "requests", "version": cand,
                    "role": "candidate", "value": n, "threshold": cfg.min_requests,
                    "verdict": "pass" if n >= cfg.min_requests else "inconclusive", "dry_run": False},
                   *(r.to_dict() for r in result.results)]
        event = VERDICT_EVENT[result.verdict]
        if cfg.strategy is Strategy.SHADOW:
            for metric in ("agreement", "score_mad", "prediction_psi"):
                entries.append(_info(metric, cand, values[cand].get(metric)))
        if cfg.strategy is Strategy.AB and rows is not None:
            ab = strategies.ab_comparison(rows, feedback, stable, cand, cfg.ab_metric, cfg.ab_confidence)
            for version, key in ((stable, "stable"), (cand, "candidate")):
                entries.append(_info(cfg.ab_metric, version, ab[key], n=ab[f"{key}_n"], role=key))
            entries.append({**_info(f"{cfg.ab_metric}_difference", cand, ab["difference"]),
                            "low": ab["low"], "high": ab["high"], "confidence": cfg.ab_confidence,
                            "winner": ab["winner"]})
            if ab["winner"] and result.verdict is judge.Verdict.PASS:
                event = Event.WINNER_FOUND
        return event, result.note or None, result.verdict.value, entries

    def _apply(self, row: Row[Any], tr: machine.Transition, nxt: datetime, start: datetime, end: datetime,
               verdict: str, checks: list[dict[str, Any]]) -> int:
        now = self.clock.now()
        detail = {"verdict": verdict, "window": [start.isoformat(), end.isoformat()],
                  "controller": None if self.lease is None else self.lease.holder}
        with self.db.begin() as conn:
            if tr.before == tr.after:
                ok = records.touch(conn, row, nxt, now)
            else:
                ok = records.commit(conn, row, tr, ACTOR.name, self.clock, self.endpoints.write_routing, nxt,
                                    detail)
            if ok and tr.notice is not Notice.ROLLBACK:
                records.record_analysis(conn, int(row.id), int(row.step), now, start, end, verdict, checks)
        if not ok:
            log.info("rollout %s: moved by someone else meanwhile; nothing applied", row.id)
            return 0
        if tr.notice is Notice.ROLLBACK:  # weights are back on stable; now record why
            with self.db.begin() as conn:
                records.record_analysis(conn, int(row.id), int(row.step), now, start, end, verdict, checks)
        if tr.before != tr.after:
            log.info("rollout %s on %s: %s -> %s step %s (%s)", row.id, row.endpoint, tr.before.state.value,
                     tr.after.state.value, tr.after.step, tr.event.value)
        self._after(int(row.id), tr)
        return 1 if tr.before != tr.after else 0

    def _after(self, rollout_id: int, tr: machine.Transition) -> None:
        if tr.notice is Notice.HOLD and "promote_stage" not in tr.actions:
            return
        with self.db.read() as conn:
            view = records.view(records.by_id(conn, rollout_id))  # type: ignore[arg-type]
        if self.notifier is not None and tr.notice is not Notice.HOLD:
            for url in view.spec.get("webhooks") or []:
                self.notifier.send(url, message(tr.notice.value, view.to_dict()))
        if "promote_stage" in tr.actions:
            self._bookkeeping(view)

    # -- after promotion -------------------------------------------------------------------------
    def _bookkeeping(self, view: records.RolloutView) -> None:
        try:
            log.info("rollout %s: stage bookkeeping: %s", view.id, promote_stage(self.endpoints, view))
        except ShipyardError as exc:
            log.warning("rollout %s: stage bookkeeping failed (retried next tick): %s", view.id, exc)

    def housekeeping(self) -> None:
        """For each endpoint's newest promoted rollout: the candidate is production and champion; after the
        grace period the previous stable becomes ``retired`` (still loadable for a rollback). Metric windows
        and gateway watermarks older than ``WINDOW_RETENTION`` are deleted."""
        from shipyard.telemetry import window_store

        now = self.clock.now()
        window_store.prune(self.db, now - WINDOW_RETENTION)
        with self.db.read() as conn:
            newest = {}
            for r in conn.execute(select(t.rollouts).where(t.rollouts.c.state == State.PROMOTED.value)
                                  .order_by(t.rollouts.c.id)):
                newest[r.endpoint] = r
        registry = self.endpoints.registry
        for r in newest.values():
            view = records.view(r)
            try:
                cand = registry.get_version(f"{r.model}:{r.candidate}")
                if cand.stage != "production" or "champion" not in cand.aliases:
                    self._bookkeeping(view)
                finished = records.aware(r.finished_at)
                grace = records.config_of(r).grace_s
                if finished is not None and now >= finished + timedelta(seconds=grace):
                    old = registry.get_version(f"{r.model}:{r.stable}")
                    if old.stage == "production" and r.stable != r.candidate:
                        registry.set_stage(f"{r.model}:{r.stable}", "retired",
                                           f"replaced by {r.model}:{r.candidate} (rollout {r.id})",
                                           permission=Permission.DEPLOY)
                        log.info("rollout %s: %s:%s retired", r.id, r.model, r.stable)
            except ShipyardError as exc:
                log.warning("rollout %s: bookkeeping: %s", r.id, exc)

    # -- inputs ----------------------------------------------------------------------------------
    def _provider(self, cfg: RolloutConfig) -> MetricProvider:
        return self.provider or create_provider(cfg, self.db)

    def _log(self, endpoint: str, since: datetime) -> LogRows | None:
        if self.artifacts is None:
            return None
        from shipyard.telemetry.prediction_log import read_log

        table = read_log(self.artifacts, endpoint, since,
                         columns=["request_id", "row", "version", "shadow", "output_predict"])
        return LogRows.from_table(table)

    def _input_drift(self, row: Row[Any], since: datetime) -> dict[int, float | None]:
        """Per version: input drift of its logged rows against its training data's profile (lineage)."""
        from shipyard.data.service import DatasetService
        from shipyard.rollout.metrics import input_drift
        from shipyard.telemetry.prediction_log import read_log

        if self.artifacts is None:
            return {}
        table = read_log(self.artifacts, row.endpoint, since)
        if table is None:
            return {}
        inputs = [c for c in table.column_names if c.startswith("input_")]
        data = table.select(["version", "shadow", *inputs] if "shadow" in table.column_names
                            else ["version", *inputs]).to_pylist()
        datasets = DatasetService(self.db, self.artifacts, ACTOR, self.clock)
        out: dict[int, float | None] = {}
        for version in (int(row.stable), int(row.candidate)):
            mv = self.endpoints.registry.get_version(f"{row.model}:{version}")
            train = next((link for link in mv.lineage if link.get("kind") == "dataset"
                          and link.get("role", "train") == "train"), None)
            if train is None:
                out[version] = None
                continue
            profile = datasets.show(str(train["ref"])).profile
            mine = [r for r in data if r["version"] == version]
            out[version] = input_drift(profile, {c[len("input_"):]: [r[c] for r in mine] for c in inputs})
        return out

    def _feedback(self, endpoint: str) -> dict[tuple[str, int | None], Any]:
        from shipyard.telemetry import feedback_store

        return {(f["request_id"], f["row"]): f["label"] for f in feedback_store.list_for(self.db, endpoint)}

    def _smoke(self, row: Row[Any], cfg: RolloutConfig, step_start: datetime, start: datetime, end: datetime
               ) -> strategies.SmokeResult:
        replayed = 0
        if self.gateway_url and self.artifacts is not None:
            from shipyard.telemetry.prediction_log import read_log

            table = read_log(self.artifacts, row.endpoint, step_start - timedelta(hours=1))
            bodies = strategies.replay_requests(table, int(row.stable), cfg.smoke_requests)
            if bodies:  # mirrored to the shadowed candidate; judged below on its mirrored answers
                replayed = strategies.replay_through_endpoint(self.gateway_url, row.endpoint, bodies).sent
        provided = self._provider(cfg).query(row.endpoint, step_start, end) if end > step_start else {}
        result = strategies.smoke_from_metrics(provided.get(int(row.candidate)), cfg.smoke_requests)
        if replayed:
            result = strategies.SmokeResult(result.passed, f"{replayed} logged request(s) replayed; {result.detail}",
                                            result.sent, result.ok)
        return result


def _info(metric: str, version: int, value: Any, n: int | None = None, role: str = "candidate") -> dict[str, Any]:
    """A reported (never deciding) metric in an analysis record."""
    entry = {"check": f"{metric} (report)", "metric": metric, "version": version, "role": role, "value": value,
             "threshold": None, "verdict": "info", "dry_run": True}
    if n is not None:
        entry["n"] = n
    return entry


def for_workspace(ws: Any, *, gateway_url: str | None = None, tick_s: float = 0.5,
                  provider: MetricProvider | None = None, notifier: Notifier | None = None) -> Controller:
    """A controller over ``ws``'s store, acting as the ``rollout-controller`` principal (audited as such)."""
    from shipyard.registry.service import RegistryService

    registry = RegistryService(ws.db, ws.artifacts, ACTOR, ws.clock, approvals_required=ws.config.approval.required)
    endpoints = EndpointService(ws.db, ACTOR, ws.clock, registry=registry, artifacts=ws.artifacts)
    from shipyard.telemetry.windows import complete_after

    lag = complete_after(float(getattr(ws.config.serving, "metrics_interval", 5.0)))
    c = Controller(ws.db, endpoints, ws.clock, artifacts=ws.artifacts, provider=provider,
                   gateway_url=gateway_url, lag_s=lag, tick_s=tick_s, notifier=notifier)
    from shipyard.monitoring.scheduler import for_workspace as monitors

    scheduler = monitors(ws, notifier)
    if scheduler is not None:  # endpoint monitors run under the same leader lease
        c.hooks.append(scheduler.tick)
    return c
