"""The monitor: section of shipyard.yaml: the design's example means what it says; mistakes name the key."""

from __future__ import annotations

import pytest
import yaml

from shipyard.config import parse_project
from shipyard.errors import InvalidInputError

EXAMPLE = """
monitor:
  drift: {every: 60s, window: 5000, warning: 0.1, critical: 0.25}
  retrain: {on: [drift.critical], cooldown: 24h}
"""


def test_the_design_example() -> None:
    m = parse_project(yaml.safe_load(EXAMPLE)).monitor
    assert m is not None and m.drift is not None and m.retrain is not None
    assert m.every_s(m.drift) == 60 and m.window_of(m.drift) == ("rows", 5000)
    assert m.drift.items() == [("warning", 0.1), ("critical", 0.25)]
    assert m.retrain.on == ["drift.critical"]
    assert list(m.checks()) == ["drift"]


def test_windows_and_defaults() -> None:
    m = parse_project({"monitor": {"window": "1h", "every": "500ms", "quality": {}, "performance":
                                   {"window": 200, "critical": 0.7}}}).monitor
    assert m is not None and m.quality is not None and m.performance is not None
    assert m.window_of(m.quality) == ("seconds", 3600) and m.every_s(m.quality) == 0.5
    assert m.window_of(m.performance) == ("rows", 200)
    assert m.cooldown_s() == 3600


@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"drift": {"warning": 0.3, "critical": 0.2}}, "monitor.drift", "at least warning"),
    ({"drift": {"critical": 1.5}}, "monitor.drift", "share of drifted columns"),
    ({"performance": {"warning": 0.7, "critical": 0.8}}, "monitor.performance", "at most warning"),
    ({"drift": {"every": "soon"}}, "monitor.drift.every", "duration"),
    ({"window": 0}, "monitor.window", "rows >= 1"),
    ({"retrain": {"on": ["dirft.critical"]}}, "monitor", "retrain.on[0]"),
    ({"retrain": {"on": ["drift.fatal"]}}, "monitor.retrain.on", "severity"),
    ({"retrain": {"cooldown": "-1h"}}, "monitor.retrain.cooldown", "duration"),
    ({"alerts": [{"name": "x", "when": "accuracy < 0.8"}]}, "monitor.alerts.0.when", "CHECK.METRIC OP NUMBER"),
    ({"alerts": [{"name": "drift", "when": "drift.share_drifted > 0.5"}]}, "monitor", "alerts[0].name"),
    ({"webhooks": ["ftp://x"]}, "monitor.webhooks", "http://"),
    ({"drfit": {}}, "monitor.drfit", "one of"),
])
def test_mistakes_name_the_key(raw: dict, key: str, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInputError) as info:
        parse_project({"monitor": raw})
    assert info.value.field == key
    assert words in str(info.value)
