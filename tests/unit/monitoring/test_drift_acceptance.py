"""Issue 16, acceptance points 1 and 2: the drift engine flags exactly the drifted columns, and no clean one.

Both go through the product's path: an Arrow table is profiled (``data.profile``), and two profiles are
compared by ``data.drift.compare_profiles`` at default settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shipyard.data.drift import compare_profiles
from shipyard.data.profile import DatasetProfile, profile_table
from shipyard.data.readers import read_table
from shipyard.data.schema import infer_schema
from shipyard.monitoring.synthetic import DRIFTED, scenario


def _profile(table: pa.Table) -> DatasetProfile:
    return profile_table(table, infer_schema(table))


def test_10k_rows_over_20_seeds_flags_exactly_the_injected_columns() -> None:
    reference, same = {}, {}
    for seed in range(20):
        ref = _profile(scenario(10_000, 3 * seed, drift=False))
        drifted = compare_profiles(ref, _profile(scenario(10_000, 3 * seed + 1, drift=True))).verdict
        clean = compare_profiles(ref, _profile(scenario(10_000, 3 * seed + 2, drift=False))).verdict
        reference[seed] = sorted(drifted.drifted)
        same[seed] = clean.drifted
        assert len(drifted.columns) == 20 and drifted.share_drifted == pytest.approx(5 / 20)
        assert {drifted.columns[c].severity for c in DRIFTED} <= {"warning", "critical"}
    assert all(flagged == sorted(DRIFTED) for flagged in reference.values()), reference
    assert all(flagged == [] for flagged in same.values()), same


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_1m_rows_never_flags_a_clean_column(seed: int) -> None:
    ref = _profile(scenario(1_000_000, 100 + seed, drift=False))
    drifted = compare_profiles(ref, _profile(scenario(1_000_000, 200 + seed, drift=True))).verdict
    assert sorted(drifted.drifted) == sorted(DRIFTED)
    clean = compare_profiles(ref, _profile(scenario(1_000_000, 300 + seed, drift=False))).verdict
    assert clean.drifted == []
    # at a million rows the tests are significant for tiny shifts: the effect-size floor is what holds
    assert all(c.score < c.floor / 2 for c in clean.columns.values()), clean.to_dict()


def _raw_p_value(a: pa.ChunkedArray, b: pa.ChunkedArray) -> float:
    """An independent check on raw values: scipy's exact two-sample KS, or chi-square on the label counts."""
    from scipy.stats import chi2_contingency, ks_2samp

    if pa.types.is_string(a.type):
        labels = sorted(set(pc.drop_null(a).to_pylist()) | set(pc.drop_null(b).to_pylist()))
        table = [[pc.sum(pc.equal(side, x)).as_py() or 0 for x in labels] for side in (a, b)]
        return float(chi2_contingency(table, correction=False)[1])
    x = pc.drop_null(a).to_numpy().astype(float)
    y = pc.drop_null(b).to_numpy().astype(float)
    return float(ks_2samp(x, y).pvalue)


def test_credit_split_by_home_owner_flags_the_columns_that_differ_and_a_random_split_none(credit_csv: Path) -> None:
    credit = read_table(credit_csv)
    schema = infer_schema(credit)
    columns = [c for c in credit.column_names if c != "Home"]
    owner = pc.equal(credit["Home"], "owner")
    owners, others = credit.filter(owner), credit.filter(pc.invert(owner))
    verdict = compare_profiles(profile_table(owners, schema), profile_table(others, schema),
                               columns=columns).verdict
    raw = {c: _raw_p_value(owners[c], others[c]) for c in columns}
    differ = {c for c, p in raw.items() if p < 1e-6}
    assert set(verdict.drifted) == differ, (verdict.drifted, raw)
    assert {"Age", "Assets", "Seniority", "Marital"} <= differ  # owners are older, married, with assets
    assert all(raw[c] > 0.01 for c in columns if c not in differ)  # the rest do not differ at all
    for seed in range(10):
        half = pa.array(np.random.default_rng(seed).random(credit.num_rows) < 0.5)
        random_split = compare_profiles(profile_table(credit.filter(half), schema),
                                        profile_table(credit.filter(pc.invert(half)), schema), columns=columns)
        assert random_split.verdict.drifted == [], (seed, random_split.verdict.drifted)
