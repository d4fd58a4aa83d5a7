"""The drift engine: one verdict per column from significance (Holm-corrected) and an effect-size floor.

Every column gets a significance test — Kolmogorov-Smirnov for numbers, chi-square for categories — and
an effect size by its *method* (``ks``, ``wasserstein``, ``psi`` for numbers; ``chi2``, ``jensenshannon``,
``psi`` for categories). A column has drifted when both hold:

1. its test's p-value survives Holm's correction across all compared columns at ``alpha`` (0.05), so
   comparing 20 columns does not flag one by chance, and
2. its method's score reaches the method's floor (``FLOORS``), so a million rows do not flag a shift too
   small to matter.

Severity is ``none`` (not drifted), ``warning`` (drifted) or ``critical`` (score at or above the
method's critical level). The method is chosen by type and size (``auto_method``) unless overridden.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.core.drift.chi2 import chi2
from shipyard.core.drift.correction import holm_bonferroni
from shipyard.core.drift.jensenshannon import js_distance
from shipyard.core.drift.psi import psi
from shipyard.core.drift.summary import CategoricalSummary, NumericSummary, align
from shipyard.errors import InvalidInputError

NUMERIC_METHODS = ("wasserstein", "ks", "psi")
CATEGORICAL_METHODS = ("jensenshannon", "chi2", "psi")
METHODS = tuple(dict.fromkeys([*NUMERIC_METHODS, *CATEGORICAL_METHODS]))

FLOORS: dict[str, tuple[float, float]] = {
    # method: (drift floor -> warning, critical level)
    "wasserstein": (0.1, 0.3),  # Wasserstein-1 / reference std: a 0.1-sd mean shift is the smallest that counts
    "ks": (0.05, 0.15),  # KS D: the CDFs differ by 5 points somewhere
    "psi": (0.1, 0.25),  # the usual "look" and "act" levels
    "jensenshannon": (0.05, 0.15),  # JS distance (base 2)
    "chi2": (0.05, 0.15),  # Cramér's V
}
DEFAULT_ALPHA = 0.05
SMALL_SAMPLE = 1000  # below this many values on either side, the test's own statistic is the effect size

Summary = NumericSummary | CategoricalSummary


@dataclass(frozen=True)
class ColumnDrift:
    """One column's outcome. ``p_value`` is the significance test's (KS or chi-square), before correction."""

    column: str
    kind: str  # numeric | categorical
    method: str
    score: float
    p_value: float
    test: str  # the significance test: ks | chi2
    significant: bool = False  # after Holm's correction
    drifted: bool = False
    severity: str = "none"
    floor: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "score": self.score, "p_value": self.p_value,
                "test": self.test, "significant": self.significant, "drifted": self.drifted,
                "severity": self.severity, "floor": self.floor, "stats": dict(self.stats), "note": self.note}


@dataclass(frozen=True)
class DriftVerdict:
    """All compared columns and the share that drifted."""

    columns: dict[str, ColumnDrift]
    alpha: float

    @property
    def drifted(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.drifted]

    @property
    def share_drifted(self) -> float:
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"columns": {n: c.to_dict() for n, c in self.columns.items()}, "drifted": self.drifted,
                "share_drifted": self.share_drifted, "alpha": self.alpha}


def auto_method(reference: Summary, current: Summary) -> str:
    """Wasserstein (numbers) or Jensen-Shannon (categories); KS or chi-square when a side is small."""
    small = min(_count(reference), _count(current)) < SMALL_SAMPLE
    if isinstance(reference, NumericSummary):
        return "ks" if small else "wasserstein"
    return "chi2" if small else "jensenshannon"


def check_method(column: str, kind: str, method: str) -> str:
    allowed = NUMERIC_METHODS if kind == "numeric" else CATEGORICAL_METHODS
    if method not in allowed:
        raise InvalidInputError(field=f"method for {column}", value=method,
                                expected=f"for a {kind} column one of " + " | ".join(allowed))
    return method


def ks_summaries(ref: NumericSummary, cur: NumericSummary) -> tuple[float, float]:
    """KS D (the least gap the two CDF bounds allow) and its asymptotic p-value (Kolmogorov distribution)."""
    from scipy.stats import kstwobign

    x = np.union1d(ref.points(), cur.points())
    rlo, rhi = ref.cdf_bounds(x)
    clo, chi = cur.cdf_bounds(x)
    gap = np.maximum(rlo - chi, clo - rhi)
    d = float(max(gap.max(initial=0.0), 0.0))
    n_eff = ref.count * cur.count / max(ref.count + cur.count, 1)
    return d, float(kstwobign.sf(d * math.sqrt(n_eff)))


def wasserstein(ref: NumericSummary, cur: NumericSummary) -> float:
    """Wasserstein-1 between the two quantile functions over the central 99.8%, divided by the reference's spread.

    The outer 0.1% on each side is left out: there the sketch only knows the sample's minimum and maximum,
    whose noise in a heavy-tailed column (Student t, 3 degrees of freedom) would otherwise read as drift.
    """
    probs = TRIM + (np.arange(W_STEPS) + 0.5) / W_STEPS * (1.0 - 2 * TRIM)
    distance = float(np.mean(np.abs(ref.quantiles(probs) - cur.quantiles(probs)))) * (1.0 - 2 * TRIM)
    return distance / ref.spread()


W_STEPS = 998
TRIM = 0.001


def numeric_psi(ref: NumericSummary, cur: NumericSummary) -> float:
    edges, counts = ref.bins()
    return psi(counts, cur.mass_on(edges))


def compare_column(name: str, reference: Summary, current: Summary, method: str | None = None) -> ColumnDrift:
    """Score one column (significance not yet corrected; :func:`compare` does that across columns).

    Raises:
        InvalidInputError: the two sides are of different kinds, or ``method`` does not fit the kind.
    """
    if isinstance(reference, NumericSummary) != isinstance(current, NumericSummary):
        raise InvalidInputError(field=name, value="numbers against categories",
                                expected="the same kind of column on both sides")
    chosen = method or auto_method(reference, current)
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        check_method(name, "numeric", chosen)
        d, p = ks_summaries(reference, current)
        stats = {"ks": d, "wasserstein": wasserstein(reference, current), "psi": numeric_psi(reference, current)}
        note = "" if reference.exact_ks and current.exact_ks else (
            "profile without a quantile sketch: KS compares 10 bins only (re-add the dataset to refresh)")
        return ColumnDrift(name, "numeric", chosen, stats[chosen], p, "ks", stats=stats, note=note)
    assert isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary)
    check_method(name, "categorical", chosen)
    _, rc, cc = align(reference, current)
    _, p, v = chi2(rc, cc)
    stats = {"chi2": v, "jensenshannon": js_distance(rc, cc), "psi": psi(rc, cc)}
    return ColumnDrift(name, "categorical", chosen, stats[chosen], p, "chi2", stats=stats)


def compare(pairs: Mapping[str, tuple[Summary, Summary]], *, methods: Mapping[str, str] | None = None,
            alpha: float = DEFAULT_ALPHA, floor: float | None = None) -> DriftVerdict:
    """The verdict over all columns: Holm across their p-values, then each method's floor.

    Args:
        pairs: column -> (reference summary, current summary).
        methods: per-column method overrides (``auto_method`` for the rest).
        alpha: the family-wise error rate for Holm's correction.
        floor: one effect-size floor for every column instead of each method's default.

    Raises:
        InvalidInputError: an override names an unknown column or a method that does not fit the column.
    """
    methods = dict(methods or {})
    unknown = sorted(set(methods) - set(pairs))
    if unknown:
        raise InvalidInputError(field="method", value=unknown[0],
                                expected="a compared column: " + ", ".join(pairs))
    if floor is not None and (not math.isfinite(floor) or floor < 0):
        raise InvalidInputError(field="threshold", value=floor, expected="a finite number >= 0")
    scored = [compare_column(name, ref, cur, methods.get(name)) for name, (ref, cur) in pairs.items()]
    significant = holm_bonferroni([c.p_value for c in scored], alpha)
    out = {}
    for c, sig in zip(scored, significant, strict=True):
        warn, critical = FLOORS[c.method]
        level = warn if floor is None else floor
        drifted = bool(sig and c.score >= level)
        severity = "none" if not drifted else ("critical" if c.score >= max(critical, level) else "warning")
        out[c.column] = ColumnDrift(c.column, c.kind, c.method, c.score, c.p_value, c.test, bool(sig), drifted,
                                    severity, level, c.stats, c.note)
    return DriftVerdict(columns=out, alpha=alpha)


def _count(summary: Summary) -> int:
    return summary.count
