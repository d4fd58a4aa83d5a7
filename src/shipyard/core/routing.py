"""Routing decisions for an endpoint: weighted versions, hash-sticky assignment, shadow targets.

A ``RoutingTable`` is a value: routes (version, weight) whose weights sum to 100, shadow versions
that receive a mirrored copy of each request but never answer, and an optional sticky header.
``pick`` is pure: the same key always lands on the same version for a given table.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidInputError

HEADER_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
TOTAL = 100


@dataclass(frozen=True, slots=True)
class Route:
    version: int
    weight: int


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """Who answers an endpoint's requests. Build with ``parse`` or ``single`` (they validate)."""

    routes: tuple[Route, ...]
    shadow: tuple[int, ...] = ()
    sticky_header: str | None = None

    @property
    def served(self) -> tuple[int, ...]:
        """Versions that answer (weight > 0), in table order."""
        return tuple(r.version for r in self.routes if r.weight > 0)

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version a gateway must load: answering ones, then shadows."""
        return self.served + tuple(v for v in self.shadow if v not in self.served)

    def to_dict(self) -> dict[str, Any]:
        return {"routes": [{"version": r.version, "weight": r.weight} for r in self.routes],
                "shadow": list(self.shadow), "sticky_header": self.sticky_header}


def single(version: int) -> RoutingTable:
    """All traffic to one version."""
    return parse({"routes": [{"version": version, "weight": TOTAL}]})


def _int(value: Any, field: str, expected: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        raise InvalidInputError(field=field, value=value, expected=expected)
    return value


def parse(raw: Any) -> RoutingTable:
    """Validate a routing mapping (as stored or sent) into a RoutingTable.

    Args:
        raw: ``{"routes": [{"version": 3, "weight": 90}, ...], "shadow": [4], "sticky_header": "x-user"}``.

    Returns:
        The table.

    Raises:
        InvalidInputError: naming the field (``routes[1].weight``, ``shadow[0]``, ``routes``) at fault.
    """
    if not isinstance(raw, dict):
        raise InvalidInputError(field="routing", value=raw, expected="a mapping with 'routes'")
    unknown = sorted(set(raw) - {"routes", "shadow", "sticky_header"})
    if unknown:
        raise InvalidInputError(field=f"routing.{unknown[0]}", value=raw[unknown[0]],
                                expected="one of routes, shadow, sticky_header")
    items = raw.get("routes")
    if not isinstance(items, list) or not items:
        raise InvalidInputError(field="routes", value=items, expected="a non-empty list of {version, weight}")
    routes: list[Route] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"version", "weight"}:
            raise InvalidInputError(field=f"routes[{i}]", value=item, expected="{version: int, weight: 0..100}")
        v = _int(item["version"], f"routes[{i}].version", "a positive version number", 1)
        w = _int(item["weight"], f"routes[{i}].weight", "an integer 0..100", 0, TOTAL)
        if any(r.version == v for r in routes):
            raise InvalidInputError(field=f"routes[{i}].version", value=v, expected="each version listed once")
        routes.append(Route(v, w))
    total = sum(r.weight for r in routes)
    if total != TOTAL:
        raise InvalidInputError(f"routes: weights sum to {total}, expected {TOTAL}",
                                field="routes", value=total, expected=f"weights summing to {TOTAL}")
    shadow_raw = raw.get("shadow") or []
    if not isinstance(shadow_raw, list):
        raise InvalidInputError(field="shadow", value=shadow_raw, expected="a list of version numbers")
    shadow: list[int] = []
    answering = {r.version for r in routes if r.weight > 0}
    for i, s in enumerate(shadow_raw):
        v = _int(s, f"shadow[{i}]", "a positive version number", 1)
        if v in answering or v in shadow:
            raise InvalidInputError(field=f"shadow[{i}]", value=v,
                                    expected="a version that is not answering and not listed twice")
        shadow.append(v)
    sticky = raw.get("sticky_header")
    if sticky is not None:
        if not isinstance(sticky, str) or not HEADER_RE.match(sticky.lower()):
            raise InvalidInputError(field="sticky_header", value=sticky, expected="an HTTP header name like x-user")
        sticky = sticky.lower()
    return RoutingTable(tuple(routes), tuple(shadow), sticky)


def bucket(key: str) -> float:
    """A stable position in [0, 1) for a sticky key (blake2b, so it is the same in every process)."""
    h = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def pick(table: RoutingTable, key_or_random: str | float) -> int:
    """The version that answers: by a sticky key (``str``) or a uniform number in [0, 1).

    Args:
        table: a validated routing table.
        key_or_random: a sticky key (same key, same version) or ``random.random()``.

    Returns:
        The chosen version (never a shadow).
    """
    routes = table.routes
    if len(routes) == 1:
        return routes[0].version
    u = bucket(key_or_random) if isinstance(key_or_random, str) else key_or_random
    point = u * TOTAL
    acc = 0
    last = routes[0].version
    for r in routes:
        if r.weight <= 0:
            continue
        acc += r.weight
        last = r.version
        if point < acc:
            return r.version
    return last


def with_weight(table: RoutingTable | None, version: int, weight: int) -> RoutingTable:
    """``version`` at ``weight``; the rest goes to the current heaviest other answering version."""
    _int(weight, "weight", "an integer 1..100", 1, TOTAL)
    if table is None or weight == TOTAL:
        return single(version)
    others = [r for r in table.routes if r.version != version and r.weight > 0]
    if not others:
        raise InvalidInputError(field="weight", value=weight,
                                expected="100 (no other version serves this endpoint to take the rest)")
    stable = max(others, key=lambda r: r.weight)
    return parse({"routes": [{"version": stable.version, "weight": TOTAL - weight},
                             {"version": version, "weight": weight}],
                  "shadow": [s for s in table.shadow if s not in (version, stable.version)],
                  "sticky_header": table.sticky_header})
