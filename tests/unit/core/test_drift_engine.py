"""The drift engine's rule: Holm-corrected significance and an effect-size floor, severity, methods, fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.core.drift.engine import FLOORS, auto_method, compare, compare_column, ks_summaries
from shipyard.core.drift.summary import CategoricalSummary, NumericSummary, sketch_sorted
from shipyard.errors import InvalidInputError

RNG = np.random.default_rng(16)


def _num(values: np.ndarray) -> NumericSummary:
    return NumericSummary.from_values(values)


def test_a_significant_but_trivial_shift_at_a_million_rows_is_not_drift() -> None:
    ref = _num(RNG.normal(0, 1, 1_000_000))
    tiny = _num(RNG.normal(0.02, 1, 1_000_000))  # 0.02 sd: real, detectable, irrelevant
    verdict = compare({"x": (ref, tiny)})
    column = verdict.columns["x"]
    assert column.significant and column.p_value < 1e-6  # the test alone would flag it
    assert not column.drifted and column.severity == "none" and column.score < FLOORS["wasserstein"][0]


def test_a_large_effect_on_a_tiny_sample_is_not_drift_without_significance() -> None:
    ref = _num(RNG.normal(0, 1, 15))
    cur = _num(RNG.normal(0.3, 1, 15))
    column = compare({"x": (ref, cur)}).columns["x"]
    assert column.method == "ks"  # small samples: the test's own statistic
    assert not column.drifted


def test_holm_keeps_many_clean_columns_from_flagging_by_chance() -> None:
    pairs = {f"c{i}": (_num(RNG.normal(0, 1, 300)), _num(RNG.normal(0, 1, 300))) for i in range(200)}
    verdict = compare(pairs, floor=0.0)  # even with no effect floor
    assert verdict.drifted == []


def test_severity_by_the_methods_critical_level_and_a_floor_override() -> None:
    ref = _num(RNG.normal(0, 1, 20_000))
    pairs = {"small": (ref, _num(RNG.normal(0.15, 1, 20_000))), "large": (ref, _num(RNG.normal(0.5, 1, 20_000)))}
    verdict = compare(pairs)
    assert (verdict.columns["small"].severity, verdict.columns["large"].severity) == ("warning", "critical")
    assert verdict.share_drifted == 1.0
    assert compare(pairs, floor=0.3).drifted == ["large"]
    with pytest.raises(InvalidInputError) as info:
        compare(pairs, floor=float("nan"))
    assert info.value.field == "threshold"


def test_methods_are_chosen_by_kind_and_size_and_can_be_overridden() -> None:
    big, small = _num(RNG.normal(0, 1, 5000)), _num(RNG.normal(0, 1, 50))
    cats = CategoricalSummary(("a", "b"), np.array([600.0, 400.0]))
    few = CategoricalSummary(("a", "b"), np.array([6.0, 4.0]))
    assert (auto_method(big, big), auto_method(big, small)) == ("wasserstein", "ks")
    assert (auto_method(cats, cats), auto_method(cats, few)) == ("jensenshannon", "chi2")
    verdict = compare({"x": (big, big), "k": (cats, cats)}, methods={"x": "psi", "k": "psi"})
    assert (verdict.columns["x"].method, verdict.columns["k"].method) == ("psi", "psi")
    with pytest.raises(InvalidInputError) as info:
        compare({"x": (big, big)}, methods={"x": "chi2"})
    assert info.value.field == "method for x"
    with pytest.raises(InvalidInputError):
        compare_column("x", big, cats)


def test_ks_from_sketches_matches_scipy_on_raw_values_within_the_sketch_resolution() -> None:
    from scipy.stats import ks_2samp

    a, b = RNG.normal(0, 1, 50_000), RNG.normal(0.1, 1.2, 30_000)
    d, p = ks_summaries(_num(a), _num(b))
    exact = ks_2samp(a, b)
    assert d == pytest.approx(exact.statistic, abs=0.002) and d <= exact.statistic + 1e-12
    assert p >= exact.pvalue  # a lower bound of D: never more significant than the exact test


def test_discrete_columns_show_no_spurious_drift() -> None:
    a, b = RNG.poisson(2, 100_000).astype(float), RNG.poisson(2, 100_000).astype(float)
    d, p = ks_summaries(_num(a), _num(b))
    assert d < 0.01 and p > 0.01


def test_an_old_profile_with_bins_only_still_compares_and_says_so() -> None:
    values = RNG.normal(0, 1, 10_000)
    edges = np.quantile(values, np.linspace(0, 1, 11))
    counts = np.histogram(values, edges)[0]
    old = NumericSummary.from_profile(10_000, float(values.std()), None, edges.tolist(), counts.tolist())
    shifted = _num(RNG.normal(0.5, 1, 10_000))
    column = compare({"x": (old, shifted)}).columns["x"]
    assert column.drifted and "10 bins" in column.note
    same = compare({"x": (old, _num(RNG.normal(0, 1, 10_000)))}).columns["x"]
    assert not same.drifted


def test_sketch_holds_real_values_at_quantiles() -> None:
    ordered = np.arange(1.0, 11.0)
    sketch = sketch_sorted(ordered, 10)
    assert sketch.tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    with pytest.raises(InvalidInputError):
        sketch_sorted(np.array([]))
