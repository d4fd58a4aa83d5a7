"""core.routing: validation naming the field, weighted and sticky picks, shadows never answer."""

from __future__ import annotations

import math
import random

import pytest

from shipyard.core import routing
from shipyard.errors import InvalidInputError


def table(*routes: tuple[int, int], shadow: list[int] | None = None, sticky: str | None = None):
    return routing.parse({"routes": [{"version": v, "weight": w} for v, w in routes],
                          "shadow": shadow or [], "sticky_header": sticky})


@pytest.mark.parametrize(("raw", "field"), [
    ({"routes": []}, "routes"),
    ({"routes": [{"version": 1, "weight": 90}]}, "routes"),
    ({"routes": [{"version": 1, "weight": 90}, {"version": 2, "weight": 20}]}, "routes"),
    ({"routes": [{"version": 1, "weight": 150}]}, "routes[0].weight"),
    ({"routes": [{"version": 1, "weight": -5}, {"version": 2, "weight": 105}]}, "routes[0].weight"),
    ({"routes": [{"version": 0, "weight": 100}]}, "routes[0].version"),
    ({"routes": [{"version": "3", "weight": 100}]}, "routes[0].version"),
    ({"routes": [{"version": 1, "weight": 50}, {"version": 1, "weight": 50}]}, "routes[1].version"),
    ({"routes": [{"version": 1, "weight": 100}], "shadow": [1]}, "shadow[0]"),
    ({"routes": [{"version": 1, "weight": 100}], "shadow": ["x"]}, "shadow[0]"),
    ({"routes": [{"version": 1, "weight": 100}], "sticky_header": "bad header!"}, "sticky_header"),
    ({"routes": [{"version": 1, "weight": 100}], "typo": 1}, "routing.typo"),
    ({"routes": [{"version": 1}]}, "routes[0]"),
])
def test_invalid_tables_name_the_field(raw, field):
    with pytest.raises(InvalidInputError) as exc:
        routing.parse(raw)
    assert exc.value.field == field
    assert field in str(exc.value)


def test_weights_message_says_sum():
    with pytest.raises(InvalidInputError, match="sum to 110, expected 100"):
        table((1, 90), (2, 20))


def test_single_route_always_answers():
    t = routing.single(7)
    assert all(routing.pick(t, random.random()) == 7 for _ in range(100))
    assert routing.pick(t, "anyone") == 7


def test_pick_splits_by_weight_within_binomial_bounds():
    t = table((3, 90), (4, 10))
    rng = random.Random(42)
    n = 10_000
    hits = sum(routing.pick(t, rng.random()) == 4 for _ in range(n))
    sd = math.sqrt(n * 0.1 * 0.9)
    assert abs(hits - 1000) < 4 * sd


def test_sticky_keys_always_land_on_the_same_version_and_split_by_weight():
    t = table((3, 50), (4, 50), sticky="x-user")
    first = {f"user-{i}": routing.pick(t, f"user-{i}") for i in range(2000)}
    for _ in range(3):
        assert all(routing.pick(t, k) == v for k, v in first.items())
    share = sum(v == 4 for v in first.values()) / len(first)
    assert 0.45 < share < 0.55


def test_zero_weight_and_shadow_never_picked():
    t = table((1, 100), (2, 0), shadow=[5])
    assert {routing.pick(t, random.random()) for _ in range(500)} == {1}
    assert t.served == (1,)
    assert t.versions == (1, 5)


def test_with_weight_keeps_the_rest_on_the_stable_version():
    t = routing.with_weight(routing.single(1), 2, 10)
    assert t.to_dict()["routes"] == [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]
    assert routing.with_weight(t, 2, 100) == routing.single(2)
    with pytest.raises(InvalidInputError) as exc:
        routing.with_weight(routing.single(1), 1, 50)
    assert exc.value.field == "weight"


def test_roundtrip_and_sticky_header_lowercased():
    t = table((1, 60), (2, 40), shadow=[3], sticky="X-User")
    assert t.sticky_header == "x-user"
    assert routing.parse(t.to_dict()) == t
