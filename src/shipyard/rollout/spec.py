"""A rollout's frozen configuration: ``deploy:`` from shipyard.yaml (plus command-line overrides) as stored.

The spec is copied into the ``rollouts`` row when the rollout starts, so editing shipyard.yaml never changes
a rollout already running, and a restarted controller reads everything it needs from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.config import DeploySpec, parse_duration
from shipyard.core.analysis import parse_checks
from shipyard.core.gates import Gate
from shipyard.core.rollout import RolloutSpec, Strategy
from shipyard.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    core: RolloutSpec
    interval_s: float
    min_requests: int
    analysis: tuple[str, ...]
    keep_previous_s: float = 600.0
    grace_s: float = 600.0
    smoke_requests: int = 20
    ab_metric: str = "accuracy"
    ab_confidence: float = 0.95
    provider: str = "builtin"
    prometheus_url: str | None = None
    webhooks: tuple[str, ...] = field(default=())

    @property
    def checks(self) -> tuple[Gate, ...]:
        return parse_checks(self.analysis)

    @property
    def strategy(self) -> Strategy:
        return self.core.strategy

    def to_dict(self) -> dict[str, Any]:
        c = self.core
        return {"strategy": c.strategy.value, "steps": list(c.steps), "pause_at": list(c.pause_at),
                "failure_limit": c.failure_limit, "max_inconclusive": c.max_inconclusive, "ab_split": c.ab_split,
                "ab_promote": c.ab_promote, "interval_s": self.interval_s, "min_requests": self.min_requests,
                "analysis": list(self.analysis), "keep_previous_s": self.keep_previous_s, "grace_s": self.grace_s,
                "smoke_requests": self.smoke_requests, "ab_metric": self.ab_metric,
                "ab_confidence": self.ab_confidence, "provider": self.provider,
                "prometheus_url": self.prometheus_url, "webhooks": list(self.webhooks)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutConfig:
        core = RolloutSpec(Strategy(d["strategy"]), tuple(d["steps"]), tuple(d.get("pause_at", ())),
                           int(d["failure_limit"]), int(d["max_inconclusive"]), int(d.get("ab_split", 50)),
                           bool(d.get("ab_promote", False)))
        return cls(core, float(d["interval_s"]), int(d["min_requests"]), tuple(d.get("analysis", ())),
                   float(d.get("keep_previous_s", 600)), float(d.get("grace_s", 600)),
                   int(d.get("smoke_requests", 20)), str(d.get("ab_metric", "accuracy")),
                   float(d.get("ab_confidence", 0.95)), str(d.get("provider", "builtin")),
                   d.get("prometheus_url"), tuple(d.get("webhooks", ())))


def from_deploy(spec: DeploySpec, strategy: str | None = None) -> RolloutConfig:
    """The stored configuration for ``spec`` with ``strategy`` overriding ``deploy.strategy``.

    Raises:
        InvalidInputError: an unknown strategy (naming the choices) or a bad duration.
    """
    name = strategy or spec.strategy
    try:
        strat = Strategy(name)
    except ValueError:
        raise InvalidInputError(field="--strategy", value=name,
                                expected=" | ".join(s.value for s in Strategy)) from None
    parse_checks(spec.analysis)
    core = RolloutSpec(strat, tuple(spec.steps), tuple(spec.pause_at), spec.failure_limit, spec.max_inconclusive,
                       spec.ab_split, spec.ab_promote)
    return RolloutConfig(core, parse_duration(spec.interval, "deploy.interval"), spec.min_requests,
                         tuple(spec.analysis), parse_duration(spec.keep_previous, "deploy.keep_previous"),
                         parse_duration(spec.grace_period, "deploy.grace_period"), spec.smoke_requests,
                         spec.ab_metric, spec.ab_confidence, spec.provider, spec.prometheus_url,
                         tuple(spec.webhooks))
