"""Profiles (the drift reference) and diffs between two dataset versions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shipyard.core.drift import create, psi_from_edges
from shipyard.data.diff import DatasetDiff, diff_versions
from shipyard.data.profile import DatasetProfile, profile_table
from shipyard.data.readers import read_table
from shipyard.data.schema import DatasetSchema, infer_schema
from shipyard.errors import InvalidInputError

CREDIT = Path("/work/shared/datasets/credit_data.csv")


@pytest.fixture(scope="module")
def credit() -> pa.Table:
    return read_table(CREDIT)


@pytest.fixture(scope="module")
def schema(credit: pa.Table) -> DatasetSchema:
    return infer_schema(credit)


@pytest.fixture(scope="module")
def profile(credit: pa.Table, schema: DatasetSchema) -> DatasetProfile:
    return profile_table(credit, schema)


def test_numeric_profile_of_credit(credit: pa.Table, profile: DatasetProfile) -> None:
    assert profile.rows == 4454 and list(profile.columns) == credit.column_names
    age = profile.columns["Age"]
    ages = credit["Age"].to_numpy()
    assert age.count == 4454 and age.null_rate == 0.0 and age.distinct == len(np.unique(ages))
    assert age.mean == pytest.approx(ages.mean()) and age.std == pytest.approx(ages.std(ddof=1))
    assert age.bin_edges is not None and age.bin_counts is not None
    assert age.bin_edges == np.unique(np.quantile(ages, np.linspace(0, 1, 11))).tolist()
    assert len(age.bin_counts) == len(age.bin_edges) - 1 == 10 and sum(age.bin_counts) == 4454
    assert age.category_freqs is None
    income = profile.columns["Income"]
    assert income.count == 4454 - credit["Income"].null_count
    assert income.null_rate == pytest.approx(credit["Income"].null_count / 4454)
    assert sum(income.bin_counts or []) == income.count


def test_category_profile_of_credit(credit: pa.Table, profile: DatasetProfile) -> None:
    home = profile.columns["Home"]
    assert home.mean is None and home.bin_edges is None and home.distinct == 6
    freqs = home.category_freqs or {}
    assert list(freqs)[0] == "owner"  # most frequent first
    assert sum(freqs.values()) == pytest.approx(1.0)
    owners = pc.sum(pc.equal(credit["Home"], "owner")).as_py()
    assert freqs["owner"] == pytest.approx(owners / home.count)


def test_profile_bins_are_the_drift_reference(credit: pa.Table, profile: DatasetProfile) -> None:
    age = profile.columns["Age"]
    ages = credit["Age"].to_numpy()
    assert psi_from_edges(age.bin_edges or [], age.bin_counts or [], ages) == pytest.approx(0.0)
    assert create("psi").compare(credit["Age"], credit["Age"]).score == pytest.approx(0.0)
    assert psi_from_edges(age.bin_edges or [], age.bin_counts or [], ages + 5) > 0.2


def test_profile_json_round_trip(profile: DatasetProfile) -> None:
    text = json.dumps(profile.to_dict(), allow_nan=False)
    assert DatasetProfile.from_dict(json.loads(text)) == profile


def test_profile_parses_numbers_held_as_text_and_handles_edge_cases() -> None:
    schema = infer_schema(pa.table({"n": [1, 2, 3], "t": pa.array([0, 1, 2], pa.timestamp("ms"))}))
    table = pa.table(
        {
            "n": ["1", "abc", "3", None],
            "t": pa.array([1000, 2000, None, None], pa.timestamp("ms")),
            "new": [None, None, None, None],
        }
    )
    profile = profile_table(table, schema)
    n = profile.columns["n"]
    assert (n.count, n.null_rate, n.mean, n.distinct) == (2, 0.5, 2.0, 2)
    assert profile.columns["t"].bin_edges == pytest.approx(
        np.linspace(1.0, 2.0, 11).tolist()
    )  # epoch seconds
    assert profile.columns["t"].mean is None
    assert profile.columns["new"].count == 0 and profile.columns["new"].null_rate == 1.0
    constant = profile_table(pa.table({"c": [5, 5, 5]}), schema).columns["c"]
    assert (constant.bin_edges, constant.bin_counts, constant.std) == ([5.0, 5.0], [3], 0.0)
    empty = profile_table(pa.table({"n": pa.array([], pa.int64())}), schema)
    assert empty.rows == 0 and empty.columns["n"].null_rate == 0.0


def test_diff_of_a_version_with_itself_is_all_unchanged(
    schema: DatasetSchema, profile: DatasetProfile
) -> None:
    diff = diff_versions(schema, profile, schema, profile)
    assert {c.change for c in diff.columns} == {"unchanged"}
    assert all(c.shift == pytest.approx(0.0, abs=1e-12) for c in diff.columns)
    assert {c.test for c in diff.columns} == {"wasserstein", "jensenshannon"}  # the engine's defaults (issue 16)
    assert diff.drifted() == [] and {c.severity for c in diff.columns} == {"none"}
    assert (diff.rows_before, diff.rows_after) == (4454, 4454)


def test_diff_finds_added_removed_retyped_and_shifted_columns(credit: pa.Table) -> None:
    before = credit.slice(0, 2000)
    after = credit.slice(2000).filter(pc.greater(credit.slice(2000)["Age"], 40))
    after = after.drop_columns(["Debt"]).append_column(
        "Region", pa.array(["north", "south"] * (after.num_rows // 2) + ["north"] * (after.num_rows % 2))
    )
    after = after.set_column(after.column_names.index("Time"), "Time", pc.cast(after["Time"], pa.float64()))
    sa, sb = infer_schema(before), infer_schema(after)
    diff = diff_versions(sa, profile_table(before, sa), sb, profile_table(after, sb))
    by_name = {c.column: c for c in diff.columns}
    assert [c.column for c in diff.columns][-1] == "Region"
    assert (by_name["Region"].change, by_name["Region"].before_type, by_name["Region"].shift) == (
        "added",
        None,
        None,
    )
    assert (by_name["Debt"].change, by_name["Debt"].after_type) == ("removed", None)
    time = by_name["Time"]
    assert (time.change, time.before_type, time.after_type) == ("type_changed", "integer", "float")
    assert time.shift is not None and time.shift < 0.1  # still comparable: both numeric
    age = by_name["Age"]  # only people over 40 left
    assert age.shift is not None and age.shift > 0.5 and age.drifted and age.severity == "critical"
    assert by_name["Amount"].shift is not None and by_name["Amount"].shift < 0.1
    assert by_name["Home"].change == "unchanged" and by_name["Home"].test == "chi2"  # < 1,000 rows after
    assert "Age" in diff.drifted() and "Amount" not in diff.drifted()
    assert diff.rows_after == after.num_rows
    again = DatasetDiff.from_dict(json.loads(json.dumps(diff.to_dict())))
    assert again == diff


def test_diff_shift_approximates_psi_on_raw_values(credit: pa.Table) -> None:
    rng = np.random.default_rng(11)
    a = pa.table({"x": rng.normal(0, 1, 50_000)})
    b = pa.table({"x": rng.normal(0.5, 1, 50_000)})
    sa = infer_schema(a)
    diff = diff_versions(sa, profile_table(a, sa), sa, profile_table(b, sa), methods={"x": "psi"})
    raw = create("psi").compare(a["x"], b["x"]).score
    assert raw == pytest.approx(0.25, abs=0.05)
    assert diff.columns[0].test == "psi" and diff.columns[0].shift == pytest.approx(raw, rel=0.5)
    ks = diff_versions(sa, profile_table(a, sa), sa, profile_table(b, sa), methods={"x": "ks"})
    raw_d = create("ks").compare(a["x"], b["x"]).score  # the quantile sketch pins D to within 0.002
    assert ks.columns[0].test == "ks" and ks.columns[0].shift == pytest.approx(raw_d, abs=0.003)


def test_diff_rejects_a_method_that_does_not_fit_the_column(schema: DatasetSchema, profile: DatasetProfile) -> None:
    with pytest.raises(InvalidInputError) as info:
        diff_versions(schema, profile, schema, profile, methods={"Home": "ks"})
    assert info.value.field == "method for Home" and "jensenshannon | chi2 | psi" in str(info.value.expected)
    with pytest.raises(InvalidInputError) as info:
        diff_versions(schema, profile, schema, profile, methods={"nope": "ks"})
    assert info.value.field == "method"
