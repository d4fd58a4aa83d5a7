"""core.alerting: levels, rule expressions, the fire/keep/escalate/resolve/cool-down decision, action triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.core.alerting import Decision, Rule, decide, level, triggered

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEVELS = [("warning", 0.1), ("critical", 0.25), ("emergency", 0.8)]


def test_levels_higher_and_lower_is_worse() -> None:
    assert level(0.05, LEVELS) == (None, None)
    assert level(0.1, LEVELS) == ("warning", 0.1)
    assert level(0.3, LEVELS) == ("critical", 0.25)
    assert level(0.9, LEVELS) == ("emergency", 0.8)
    assert level(None, LEVELS) == (None, None)
    assert level(float("nan"), LEVELS) == (None, None)
    acc = [("warning", 0.9), ("critical", 0.8)]
    assert level(0.95, acc, higher_is_worse=False) == (None, None)
    assert level(0.85, acc, higher_is_worse=False) == ("warning", 0.9)
    assert level(0.5, acc, higher_is_worse=False) == ("critical", 0.8)


def test_rules() -> None:
    r = Rule.parse("low", "performance.estimated_accuracy < 0.8", "critical")
    assert (r.check, r.metric, r.op, r.threshold) == ("performance", "estimated_accuracy", "<", 0.8)
    assert r.holds(0.7) and not r.holds(0.8) and not r.holds(None)
    assert Rule.parse("n", "quality.null_rate.age >= 1e-1", "warning").holds(0.1)
    with pytest.raises(ValueError, match="CHECK.METRIC OP NUMBER"):
        Rule.parse("x", "accuracy < 0.8", "warning")
    with pytest.raises(ValueError):
        Rule.parse("x", "drift.share_drifted > 0.5", "fatal")


def test_decide() -> None:
    now = T0 + timedelta(hours=1)
    assert decide(None, None, now, 600, "warning", True) is Decision.FIRE
    assert decide(None, None, now, 600, "warning", False) is Decision.NONE
    assert decide("warning", T0, now, 600, "warning", True) is Decision.KEEP
    assert decide("warning", T0, now, 600, "critical", True) is Decision.ESCALATE
    assert decide("critical", T0, now, 600, "warning", True) is Decision.KEEP  # no downgrade while firing
    assert decide("warning", T0, now, 600, None, True) is Decision.RESOLVE
    assert decide("warning", T0, now, 600, None, False) is Decision.NONE
    assert decide(None, now - timedelta(seconds=599), now, 600, "critical", True) is Decision.SUPPRESSED
    assert decide(None, now - timedelta(seconds=600), now, 600, "critical", True) is Decision.FIRE
    assert decide(None, None, now, 600, None, True) is Decision.NONE
    # within the cool-down: the same or a lower severity than the last one fired stays quiet, a higher one fires
    recent = now - timedelta(seconds=30)
    assert decide(None, recent, now, 600, "warning", True, "warning") is Decision.SUPPRESSED
    assert decide(None, recent, now, 600, "warning", True, "critical") is Decision.SUPPRESSED
    assert decide(None, recent, now, 600, "critical", True, "warning") is Decision.FIRE


def test_triggers() -> None:
    assert triggered(["drift.critical"], "drift", "critical")
    assert triggered(["drift.critical"], "drift", "emergency")
    assert not triggered(["drift.critical"], "drift", "warning")
    assert triggered(["drift"], "drift", "warning")
    assert not triggered(["quality"], "drift", "emergency")
