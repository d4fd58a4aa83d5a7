"""Storing monitor results and turning them into alerts: rules, deduplication, cool-down, sinks, audit.

Each stored result is judged by the rules for its check: the check's own levels (rule name = the check:
``drift``, ``quality``, ``performance``) and every ``monitor.alerts`` rule on it. ``core.alerting.decide``
says what happens; a new, escalated or resolved alert is written with its audit event in one transaction,
then sent to the sinks: the log, and each ``monitor.webhooks`` URL (Slack-compatible JSON, retried with
backoff by ``rollout.notifiers.WebhookNotifier``; a webhook never blocks or fails a monitor).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from shipyard.clock import Clock, iso
from shipyard.core import alerting
from shipyard.core.alerting import Decision, Rule
from shipyard.core.permissions import Principal, Role
from shipyard.governance import audit
from shipyard.monitoring.checks import CheckResult
from shipyard.monitoring.spec import MonitorSpec
from shipyard.rollout.records import aware
from shipyard.store.sql import tables as t
from shipyard.store.sql.engine import Database

log = logging.getLogger("shipyard.monitor")
ACTOR = Principal("monitor", Role.DEPLOYER)
A, MR = t.alerts, t.monitor_results
LOWER_IS_WORSE = {"performance"}


@dataclass(frozen=True, slots=True)
class Judged:
    """One rule's reading of a result: the severity it fires with (None: it does not) and why."""

    rule: str
    check: str
    severity: str | None
    value: float | None
    threshold: float | None
    message: str


def status_of(result: CheckResult, spec: MonitorSpec) -> str:
    if not result.enough:
        return "insufficient"
    judged = builtin(result, spec)
    return (judged.severity if judged is not None else None) or "ok"


def builtin(result: CheckResult, spec: MonitorSpec) -> Judged | None:
    """The check's own levels on its headline metric (None when it has no levels)."""
    check = spec.checks().get(result.check)
    if check is None or not check.items() or result.headline is None:
        return None
    value = alerting.metric(result.metrics, result.headline)
    lower = result.check in LOWER_IS_WORSE
    sev, bound = alerting.level(value, check.items(), higher_is_worse=not lower)
    what = {"drift": "share of drifted columns", "quality": "worst column rate",
            "performance": "accuracy" if result.metrics.get("accuracy") is not None else "estimated accuracy"
            }[result.check]
    msg = (f"{what} {value:.3f} {'<' if lower else '>='} {bound:g}" if sev is not None and value is not None
           else f"{what} {value if value is None else round(value, 3)}")
    if result.check == "drift" and result.detail.get("drifted"):
        msg += f" (drifted: {', '.join(result.detail['drifted'])})"
    return Judged(result.check, result.check, sev, value, bound, msg)


def custom(result: CheckResult, spec: MonitorSpec) -> list[Judged]:
    out = []
    for r in spec.alerts:
        rule = Rule.parse(r.name, r.when, r.severity)
        if rule.check != result.check:
            continue
        value = alerting.metric(result.metrics, rule.metric)
        fires = rule.holds(value)
        out.append(Judged(rule.name, rule.check, rule.severity if fires else None, value, rule.threshold,
                          f"{rule.check}.{rule.metric} = {value} ({r.when})"))
    return out


def store_result(db: Database, endpoint: str, result: CheckResult, status: str, at: datetime,
                 start: datetime | None, end: datetime | None) -> int:
    with db.begin() as conn:
        rid = conn.execute(MR.insert().values(
            endpoint=endpoint, check=result.check, version=result.version, at=at, window_start=start,
            window_end=end, rows=result.rows, status=status, metrics=_clean(result.metrics),
            detail=_clean(result.detail))).inserted_primary_key
    assert rid is not None
    return int(rid[0])


def judge(db: Database, clock: Clock, spec: MonitorSpec, endpoint: str, result: CheckResult, result_id: int
          ) -> list[tuple[Decision, dict[str, Any]]]:
    """Apply every rule on ``result``; returns the alerts that fired, escalated or resolved (as dicts)."""
    judged = [j for j in [builtin(result, spec), *custom(result, spec)] if j is not None]
    changed: list[tuple[Decision, dict[str, Any]]] = []
    for j in judged:
        now = clock.now()
        with db.begin() as conn:
            open_row = conn.execute(select(A).where(A.c.endpoint == endpoint, A.c.rule == j.rule,
                                                    A.c.state == "firing").order_by(A.c.id.desc())).first()
            last = conn.execute(select(A.c.fired_at, A.c.severity).where(A.c.endpoint == endpoint,
                                                                         A.c.rule == j.rule)
                                .order_by(A.c.id.desc())).first()
            decision = alerting.decide(None if open_row is None else open_row.severity,
                                       None if last is None else aware(last.fired_at), now, spec.cooldown_s(),
                                       j.severity, result.enough, None if last is None else last.severity)
            if decision is Decision.NONE:
                continue
            if decision is Decision.SUPPRESSED:
                log.info("monitor %s: %s would fire (%s) but fired within the cool-down", endpoint, j.rule, j.message)
                continue
            if decision is Decision.KEEP:
                assert open_row is not None
                conn.execute(A.update().where(A.c.id == open_row.id).values(last_seen_at=now, value=j.value,
                                                                            result_id=result_id))
                continue
            if decision is Decision.FIRE:
                assert j.severity is not None
                key = conn.execute(A.insert().values(
                    endpoint=endpoint, rule=j.rule, check=j.check, severity=j.severity, state="firing",
                    value=j.value, threshold=j.threshold, message=j.message, result_id=result_id, fired_at=now,
                    last_seen_at=now, actions=[])).inserted_primary_key
                assert key is not None
                aid = int(key[0])
                before = None
            else:
                assert open_row is not None
                aid, before = int(open_row.id), {"severity": open_row.severity, "state": open_row.state}
                values: dict[str, Any] = {"last_seen_at": now, "value": j.value, "result_id": result_id}
                if decision is Decision.ESCALATE:
                    values.update(severity=j.severity, threshold=j.threshold, message=j.message)
                else:
                    values.update(state="resolved", resolved_at=now)
                conn.execute(A.update().where(A.c.id == aid).values(**values))
            row = conn.execute(select(A).where(A.c.id == aid)).one()
            alert = to_dict(row)
            audit.append(conn, ACTOR.name, f"alert.{decision.value}", f"alert:{aid}:endpoint:{endpoint}", before,
                         {k: alert[k] for k in ("rule", "severity", "state", "value", "threshold", "message",
                                                "result_id")}, clock)
        changed.append((decision, alert))
    return changed


def notify(notifier: Any, spec: MonitorSpec, decision: Decision, alert: dict[str, Any]) -> None:
    """The sinks: the log, and every configured webhook (queued; delivered with retries in the background)."""
    text = message(decision, alert)
    (log.info if decision is Decision.RESOLVE else log.warning)("%s", text["text"])
    if notifier is not None:
        for url in spec.webhooks:
            notifier.send(url, text)


def message(decision: Decision, alert: dict[str, Any]) -> dict[str, Any]:
    """Slack-compatible: ``text`` for people, the structured alert for machines."""
    verb = {Decision.FIRE: "FIRING", Decision.ESCALATE: "ESCALATED", Decision.RESOLVE: "resolved"}.get(decision,
                                                                                                  decision.value)
    text = (f"shipyard alert {alert['id']} on {alert['endpoint']}: {verb} [{alert['severity']}] "
            f"{alert['rule']} — {alert['message']}")
    return {"text": text, "event": f"alert.{decision.value}", "alert": alert}


def to_dict(r: Any) -> dict[str, Any]:
    return {"id": int(r.id), "endpoint": r.endpoint, "rule": r.rule, "check": r.check, "severity": r.severity,
            "state": r.state, "value": r.value, "threshold": r.threshold, "message": r.message,
            "result_id": r.result_id, "fired_at": iso(r.fired_at), "last_seen_at": iso(r.last_seen_at),
            "resolved_at": iso(r.resolved_at) if r.resolved_at is not None else None,
            "actions": list(r.actions or [])}


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf as None, NumPy scalars as Python numbers."""
    import math

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
