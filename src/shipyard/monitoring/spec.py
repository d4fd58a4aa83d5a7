"""``monitor:`` in shipyard.yaml: endpoint monitors (drift, data quality, live performance), alert rules and the
actions they trigger (docs/design.md "Monitoring: monitors, alerts, actions").

Every check runs ``every`` (a duration) over ``window`` of the prediction log: a number of rows (the newest
N logged rows) or a duration (``1h``: what was logged in the last hour). Levels (``warning``, ``critical``,
``emergency``) are bounds on the check's headline metric: the share of drifted columns for ``drift``, the
worst column's rate for ``quality``, and for ``performance`` the (true, else estimated) accuracy *below*
which it fires. This module only imports pydantic (it is part of the config every command loads).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SEVERITIES = ("warning", "critical", "emergency")
CHECKS = ("drift", "quality", "performance")
RULE_RE = re.compile(r"\s*(drift|quality|performance)\.([A-Za-z0-9_.\[\]-]+)\s*(<=|>=|<|>)\s*"
                     r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*")


def _seconds(value: Any, field: str) -> float:
    from shipyard.config import parse_duration
    from shipyard.errors import InvalidInputError

    try:
        return parse_duration(value, field)
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None


def check_webhooks(urls: list[str]) -> list[str]:
    """Webhook URLs (``deploy.webhooks``, ``monitor.webhooks``) must be http(s)."""
    for i, u in enumerate(urls):
        if not u.startswith(("http://", "https://")):
            raise ValueError(f"webhooks[{i}]: got {u!r}, expected an http:// or https:// URL")
    return urls


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Levels(_Strict):
    warning: float | None = Field(None, allow_inf_nan=False)
    critical: float | None = Field(None, allow_inf_nan=False)
    emergency: float | None = Field(None, allow_inf_nan=False)

    def items(self) -> list[tuple[str, float]]:
        return [(s, v) for s in SEVERITIES if (v := getattr(self, s)) is not None]


class CheckSpec(Levels):
    """One check's schedule and window (defaults from ``monitor.every`` / ``monitor.window``)."""

    every: str | float | None = None
    window: int | str | None = None
    min_rows: int = Field(50, ge=1)  # fewer logged rows in the window: the result is `insufficient`, no alert

    @field_validator("every")
    @classmethod
    def _every(cls, v: str | float | None) -> str | float | None:
        if v is not None:
            _seconds(v, "every")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: int | str | None) -> int | str | None:
        return check_window(v)


def check_window(v: int | str | None) -> int | str | None:
    if v is None:
        return v
    if isinstance(v, bool) or (isinstance(v, int) and v < 1):
        raise ValueError(f"window: got {v!r}, expected a number of rows >= 1 or a duration such as 1h")
    if isinstance(v, str):
        _seconds(v, "window")
    return v


class DriftCheck(CheckSpec):
    """Levels are shares (0..1) of the compared columns that drifted (the engine's verdict, Holm-corrected)."""

    alpha: float = Field(0.05, gt=0, lt=1)
    threshold: float | None = Field(None, ge=0)  # one effect-size floor (default: each method's own)
    methods: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shares(self) -> DriftCheck:
        _ordered(self, ascending=True, bounds=(0.0, 1.0), what="a share of drifted columns 0..1")
        return self


class QualityCheck(CheckSpec):
    """Levels are rates (0..1): the worst column's null rate, unseen-category rate or out-of-range rate."""

    @model_validator(mode="after")
    def _rates(self) -> QualityCheck:
        _ordered(self, ascending=True, bounds=(0.0, 1.0), what="a rate 0..1")
        return self


class PerformanceCheck(CheckSpec):
    """Levels are accuracies (0..1) below which it fires: the true accuracy from feedback when at least
    ``min_labels`` logged rows are labelled, else the label-free estimate (CBPE; classifiers with
    probabilities)."""

    min_labels: int = Field(30, ge=1)
    min_rows: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _accuracies(self) -> PerformanceCheck:
        _ordered(self, ascending=False, bounds=(0.0, 1.0), what="an accuracy 0..1")
        return self


def _ordered(levels: Levels, *, ascending: bool, bounds: tuple[float, float], what: str) -> None:
    lo, hi = bounds
    prev: tuple[str, float] | None = None
    for name, v in levels.items():
        if not lo <= v <= hi:
            raise ValueError(f"{name}: got {v}, expected {what}")
        if prev is not None and (v < prev[1] if ascending else v > prev[1]):
            raise ValueError(f"{name}: got {v}, expected {'at least' if ascending else 'at most'} "
                             f"{prev[0]} ({prev[1]}): a higher severity is a worse value")
        prev = (name, v)


class AlertRule(_Strict):
    """``{name, when: "CHECK.METRIC OP NUMBER", severity}``, e.g. ``quality.null_rate.age > 0.2``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")
    when: str
    severity: Literal["warning", "critical", "emergency"] = "warning"

    @field_validator("when")
    @classmethod
    def _when(cls, v: str) -> str:
        if RULE_RE.fullmatch(v) is None:
            raise ValueError(f"when: got {v!r}, expected CHECK.METRIC OP NUMBER with CHECK drift | quality | "
                             "performance and OP < <= > >= (e.g. performance.estimated_accuracy < 0.8)")
        return v


def _yaml_on(data: Any) -> Any:
    """YAML 1.1 reads a bare ``on:`` key as the boolean true; here it means ``on``."""
    if isinstance(data, dict) and True in data and "on" not in data:
        data = {("on" if k is True else k): v for k, v in data.items()}
    return data


def _triggers(v: list[str], known: str) -> list[str]:
    for i, item in enumerate(v):
        name, _, sev = item.partition(".")
        if not name or (sev and sev not in SEVERITIES):
            raise ValueError(f"on[{i}]: got {item!r}, expected RULE or RULE.SEVERITY ({known}; severity "
                             "warning | critical | emergency), e.g. drift.critical")
    return v


class _Action(_Strict):
    """An action's trigger list (``on:``, read back from YAML's boolean) and its one duration setting."""

    on: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        return _yaml_on(data)

    @field_validator("on")
    @classmethod
    def _on(cls, v: list[str]) -> list[str]:
        return _triggers(v, "drift, quality, performance or an alerts[].name")


class RetrainAction(_Action):
    """Run the pipeline (``shipyard run --dataset``, a subprocess) when a listed alert fires."""

    cooldown: str | float = "24h"
    dataset: str | None = None  # NAME@VERSION; default: the newest version of the workspace's dataset

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, v: str | float) -> str | float:
        _seconds(v, "cooldown")
        return v


class RollbackAction(_Action):
    """Route 100% back to the previous stable when a listed alert fires within ``within`` of the promotion."""

    within: str | float = "24h"

    @field_validator("within")
    @classmethod
    def _within(cls, v: str | float) -> str | float:
        _seconds(v, "within")
        return v


class MonitorSpec(_Strict):
    """``monitor:`` — which checks run on each endpoint, their alerts and actions."""

    endpoints: list[str] | None = None  # default: every endpoint of the workspace
    every: str | float = "60s"
    window: int | str = 5000
    drift: DriftCheck | None = None
    quality: QualityCheck | None = None
    performance: PerformanceCheck | None = None
    alerts: list[AlertRule] = Field(default_factory=list)
    cooldown: str | float = "1h"  # the same rule on the same endpoint does not fire again within this
    webhooks: list[str] = Field(default_factory=list)  # Slack-compatible incoming-webhook URLs
    retrain: RetrainAction | None = None
    rollback: RollbackAction | None = None

    @field_validator("every", "cooldown")
    @classmethod
    def _durations(cls, v: str | float, info: Any) -> str | float:
        _seconds(v, info.field_name)
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: int | str) -> int | str:
        check_window(v)
        return v

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        return check_webhooks(urls)

    @model_validator(mode="after")
    def _names(self) -> MonitorSpec:
        names = [r.name for r in self.alerts]
        for i, n in enumerate(names):
            if n in CHECKS or n in names[:i]:
                raise ValueError(f"alerts[{i}].name: got {n!r}, expected a name not used by another rule "
                                 f"(nor drift, quality, performance)")
        known = {*CHECKS, *names}
        for key, action in (("retrain", self.retrain), ("rollback", self.rollback)):
            for i, item in enumerate(action.on if action is not None else []):
                if item.partition(".")[0] not in known:
                    raise ValueError(f"{key}.on[{i}]: got {item!r}, expected a rule: one of {sorted(known)}"
                                     " (optionally .warning | .critical | .emergency)")
        return self

    def checks(self) -> dict[str, CheckSpec]:
        """The configured checks by name; a ``performance`` or ``quality`` check without levels still runs
        (results and trends, no alert)."""
        return {n: c for n in CHECKS if (c := getattr(self, n)) is not None}

    def every_s(self, check: CheckSpec) -> float:
        return _seconds(check.every if check.every is not None else self.every, "every")

    def window_of(self, check: CheckSpec) -> tuple[str, float]:
        """``("rows", N)`` or ``("seconds", S)``."""
        w = check.window if check.window is not None else self.window
        if isinstance(w, int):
            return "rows", float(w)
        if re.fullmatch(r"\s*\d+\s*", str(w)):
            return "rows", float(int(str(w)))
        return "seconds", _seconds(w, "window")

    def cooldown_s(self) -> float:
        return _seconds(self.cooldown, "cooldown")
