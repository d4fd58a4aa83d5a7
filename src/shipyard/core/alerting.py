"""Alert rules over monitor results: levels, rule expressions, deduplication and cool-down, action triggers.

Pure decisions; ``monitoring.alerts`` reads and writes the rows. One alert per (endpoint, rule) is open
(``firing``) at a time: while the condition holds it is kept (deduplicated) and raised in severity if it
gets worse; it resolves when a result with enough data no longer meets it. A rule that fired less than the
cool-down ago does not fire again at the same or a lower severity (a flapping condition is one alert, not one
per run); a severity above the last one fired breaks through the cool-down (a resolved warning must not hide
the critical that follows it).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SEVERITIES = ("warning", "critical", "emergency")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
_RULE = re.compile(r"\s*(drift|quality|performance)\.([A-Za-z0-9_.\[\]-]+)\s*(<=|>=|<|>)\s*"
                   r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*")


@dataclass(frozen=True, slots=True)
class Rule:
    """``CHECK.METRIC OP NUMBER``: fires with ``severity`` when the result's metric meets it."""

    name: str
    check: str
    metric: str
    op: str
    threshold: float
    severity: str

    @classmethod
    def parse(cls, name: str, text: str, severity: str) -> Rule:
        m = _RULE.fullmatch(text)
        if m is None or severity not in RANK:
            raise ValueError(f"rule {name}: got {text!r} ({severity}), expected CHECK.METRIC OP NUMBER "
                             "with severity warning | critical | emergency")
        return cls(name, m.group(1), m.group(2), m.group(3), float(m.group(4)), severity)

    def holds(self, value: float | None) -> bool:
        if value is None or value != value:
            return False
        return {"<": value < self.threshold, "<=": value <= self.threshold, ">": value > self.threshold,
                ">=": value >= self.threshold}[self.op]


def level(value: float | None, levels: Sequence[tuple[str, float]], higher_is_worse: bool = True
          ) -> tuple[str | None, float | None]:
    """The highest severity whose bound ``value`` reaches (``>=`` bound, or ``<`` bound when lower is worse),
    with that bound; ``(None, None)`` when none does or there is no value."""
    if value is None or value != value:
        return None, None
    hit: tuple[str | None, float | None] = (None, None)
    for sev, bound in sorted(levels, key=lambda x: RANK[x[0]]):
        if (value >= bound) if higher_is_worse else (value < bound):
            hit = (sev, bound)
    return hit


class Decision(enum.StrEnum):
    FIRE = "fire"  # a new alert row, notified and audited
    ESCALATE = "escalate"  # the open alert got a higher severity: updated, notified and audited
    KEEP = "keep"  # still firing: deduplicated (last seen moves on)
    RESOLVE = "resolve"  # the condition cleared: resolved, notified and audited
    SUPPRESSED = "suppressed"  # would fire, but the rule fired within the cool-down
    NONE = "none"


def decide(open_severity: str | None, last_fired_at: datetime | None, now: datetime, cooldown_s: float,
           severity: str | None, enough_data: bool, last_severity: str | None = None) -> Decision:
    """What to do with one (endpoint, rule) given its open alert (if any), when and at which severity the rule
    last fired, and the new result."""
    if not enough_data:
        return Decision.NONE  # too few rows says nothing: neither fires nor resolves
    if severity is None:
        return Decision.RESOLVE if open_severity is not None else Decision.NONE
    if open_severity is not None:
        return Decision.ESCALATE if RANK[severity] > RANK[open_severity] else Decision.KEEP
    if last_fired_at is not None and now < last_fired_at + timedelta(seconds=cooldown_s):
        if last_severity is None or RANK[severity] <= RANK[last_severity]:
            return Decision.SUPPRESSED
    return Decision.FIRE


def triggered(on: Sequence[str], rule: str, severity: str) -> bool:
    """Whether an action's ``on`` list (``RULE`` or ``RULE.SEVERITY``: that severity or worse) names this."""
    for item in on:
        name, _, sev = item.partition(".")
        if name == rule and (not sev or RANK[severity] >= RANK[sev]):
            return True
    return False


def metric(metrics: Mapping[str, float | None], name: str) -> float | None:
    v = metrics.get(name)
    return None if v is None else float(v)
