"""Drift statistics: PSI, KS, chi-square, Jensen-Shannon, the factory and Holm's correction."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from shipyard.core.drift import (
    TESTS,
    Binned,
    category_psi,
    chi2,
    create,
    holm_bonferroni,
    js_distance,
    ks,
    psi,
    psi_from_edges,
)
from shipyard.core.drift.binning import counts_on_edges, quantile_edges, shared_counts, to_binned
from shipyard.errors import InvalidInputError

RNG = np.random.default_rng(7)
REFERENCE = RNG.normal(0.0, 1.0, 20_000)
SAME = RNG.normal(0.0, 1.0, 20_000)
SHIFTED = RNG.normal(0.5, 1.0, 20_000)  # a 0.5-standard-deviation mean shift


def test_psi_of_identical_counts_is_zero() -> None:
    assert psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert psi([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0)  # shares, not sizes


def test_psi_matches_the_textbook_formula() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi([50, 50], [25, 75]) == pytest.approx(expected)


def test_psi_stays_finite_on_an_empty_bin() -> None:
    value = psi([50, 50, 0], [40, 40, 20])
    assert np.isfinite(value) and value > 0.5


@pytest.mark.parametrize("name", sorted(TESTS))
def test_every_test_flags_a_half_std_shift_and_passes_identical_samples(name: str) -> None:
    test = create(name)
    shifted = test.compare(REFERENCE, SHIFTED)
    same = test.compare(REFERENCE, SAME)
    assert shifted.drifted and not same.drifted
    assert shifted.score > 5 * same.score
    assert shifted.test == same.test == name


def test_half_std_shift_sizes() -> None:
    assert create("psi").compare(REFERENCE, SHIFTED).score == pytest.approx(0.25, abs=0.05)
    assert create("psi").compare(REFERENCE, SAME).score < 0.01
    result = create("ks").compare(REFERENCE, SHIFTED)
    assert result.statistic == pytest.approx(0.197, abs=0.02)  # Phi(0.25) - Phi(-0.25)
    assert result.p_value is not None and result.p_value < 1e-10
    assert create("ks").compare(REFERENCE, REFERENCE).score == 0.0


def test_psi_from_profile_edges_equals_psi_on_raw_values() -> None:
    edges = quantile_edges(REFERENCE)
    counts = counts_on_edges(edges, REFERENCE)
    from_edges = psi_from_edges(edges.tolist(), counts.tolist(), SHIFTED)
    assert from_edges == pytest.approx(create("psi").compare(REFERENCE, SHIFTED).score)
    assert counts.sum() == REFERENCE.size and len(counts) == 10


def test_values_beyond_the_reference_range_land_in_the_outer_bins() -> None:
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    assert counts_on_edges(edges, np.array([-5.0, 0.0, 1.0, 2.5, 99.0])).tolist() == [2, 1, 2]


def test_binned_reference_ks_has_no_spurious_drift_on_discrete_data() -> None:
    ages = RNG.integers(18, 70, 50_000)
    later = RNG.integers(18, 70, 50_000)
    reference = to_binned(ages, "reference")
    assert not create("ks").compare(reference, later).drifted
    assert create("ks").compare(reference, later + 5).drifted


def test_category_psi_and_chi2_see_a_new_mix() -> None:
    before = {"owner": 0.5, "rent": 0.3, "parents": 0.2}
    assert category_psi(before, before) == pytest.approx(0.0)
    assert category_psi(before, {"owner": 0.2, "rent": 0.3, "parents": 0.5}) > 0.25
    assert category_psi(before, np.array(["owner", "spaceship"] * 50)) > 1.0  # unseen label is its own bin
    statistic, p_value, cramers_v = chi2([50, 50], [70, 30])
    assert statistic == pytest.approx(8.333, abs=1e-3)
    assert p_value == pytest.approx(0.00389, abs=1e-4)
    assert cramers_v == pytest.approx(np.sqrt(statistic / 200))


def test_chi2_on_raw_labels_including_arrow_nulls() -> None:
    reference = pa.array(["a"] * 500 + ["b"] * 500 + [None] * 10)
    current = pa.array(["a"] * 700 + ["b"] * 300)
    result = create("chi2").compare(reference, current)
    assert result.drifted and result.p_value is not None and result.p_value < 1e-10
    assert not create("chi2").compare(reference, reference).drifted


def test_js_distance_bounds() -> None:
    assert js_distance([1, 1], [1, 1]) == 0.0
    assert js_distance([1, 0], [0, 1]) == pytest.approx(1.0)


def test_shared_counts_rebins_a_numeric_summary_exactly_when_equal() -> None:
    summary = to_binned(REFERENCE, "reference")
    ref_counts, cur_counts = shared_counts(summary, Binned.numeric(summary.edges or (), summary.counts))
    np.testing.assert_allclose(ref_counts, cur_counts)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([1.0, 2.0], ["a", "b"]),
        (["a", "b"], [1.0, 2.0]),
        ([], [1.0]),
        ([1.0, 2.0], [np.nan]),
    ],
)
def test_mismatched_or_empty_samples_are_input_errors(reference: list, current: list) -> None:
    with pytest.raises(InvalidInputError):
        create("psi").compare(reference, current)


def test_ks_refuses_labels() -> None:
    with pytest.raises(InvalidInputError, match="numeric"):
        ks(["a", "b"], ["a", "c"])


def test_factory_names_its_choices() -> None:
    with pytest.raises(InvalidInputError) as info:
        create("wasserstein")
    assert info.value.field == "drift test" and info.value.value == "wasserstein"
    assert info.value.expected == "chi2 | jensenshannon | ks | psi"
    assert create("psi", threshold=0.3).compare(REFERENCE, SHIFTED).drifted is False


@pytest.mark.parametrize(
    ("p_values", "expected"),
    [
        ([0.01, 0.04, 0.03, 0.005], [True, False, False, True]),  # 0.005<=.0125, 0.01<=.0167, 0.03>.025 stops
        ([0.001, 0.01, 0.02, 0.03], [True, True, True, True]),
        ([0.04, 0.04], [False, False]),  # each p < 0.05, yet not after correction
        ([0.001, None, float("nan"), 0.2], [True, False, False, False]),
        ([], []),
    ],
)
def test_holm_bonferroni(p_values: list, expected: list) -> None:
    assert holm_bonferroni(p_values) == expected


def test_holm_removes_false_alarms_over_many_null_columns() -> None:
    rng = np.random.default_rng(3)
    p_values = [ks(rng.normal(size=500), rng.normal(size=500))[1] for _ in range(100)]
    assert sum(p < 0.05 for p in p_values) >= 1  # plain per-column testing raises an alarm
    assert not any(holm_bonferroni(p_values))


def test_holm_rejects_bad_alpha_and_p_values() -> None:
    with pytest.raises(InvalidInputError):
        holm_bonferroni([0.1], alpha=1.5)
    with pytest.raises(InvalidInputError):
        holm_bonferroni([1.2])
