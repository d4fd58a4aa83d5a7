"""Compare two dataset versions column by column: added, removed, retyped, and distribution shift."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shipyard.core.drift.base import Binned
from shipyard.core.drift.factory import create
from shipyard.data.profile import ColumnProfile, DatasetProfile
from shipyard.data.schema import NUMERIC, DatasetSchema
from shipyard.errors import InvalidInputError

CHANGES = ("added", "removed", "type_changed", "unchanged")
BINNED_TESTS = ("psi", "jensenshannon", "chi2")  # tests that work on two summaries (KS needs raw values)


@dataclass
class ColumnDiff:
    """One column's change between versions.

    ``change`` is about the schema type only (``unchanged`` columns may still have shifted);
    ``shift`` is the drift test's score of the after-distribution against the before-distribution,
    ``None`` when either side has no distribution (text columns, all-missing columns, added or
    removed columns); ``test`` names the test used, ``""`` when there is no shift.
    """

    column: str
    change: str
    before_type: str | None
    after_type: str | None
    shift: float | None = None
    test: str = ""
    null_rate_before: float | None = None
    null_rate_after: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetDiff:
    """The per-column diff and the two row counts."""

    columns: list[ColumnDiff]
    rows_before: int
    rows_after: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "columns": [c.to_dict() for c in self.columns],
        }

    def drifted(self, threshold: float) -> list[str]:
        """Columns whose shift is above ``threshold`` (the rule of ``validation.drift.threshold``)."""
        return [c.column for c in self.columns if c.shift is not None and c.shift > threshold]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetDiff:
        return cls(
            columns=[ColumnDiff(**c) for c in d["columns"]],
            rows_before=int(d["rows_before"]),
            rows_after=int(d["rows_after"]),
        )


def diff_versions(
    schema_a: DatasetSchema,
    profile_a: DatasetProfile,
    schema_b: DatasetSchema,
    profile_b: DatasetProfile,
    *,
    test: str = "psi",
) -> DatasetDiff:
    """Diff version A (before) against version B (after), in A's column order then B's new columns.

    The shift of a numeric column compares B's quantile bins re-binned onto A's edges (B's CDF is
    interpolated linearly inside its bins, so the score approximates the test on raw values; equal
    profiles give exactly 0). Categories compare their shares, scaled by each side's count.

    Args:
        test: a drift test that works on summaries: ``psi`` (default), ``jensenshannon`` or ``chi2``.

    Raises:
        InvalidInputError: ``test`` is not one of those.
    """
    if test not in BINNED_TESTS:
        raise InvalidInputError(field="test", value=test, expected=" | ".join(BINNED_TESTS))
    drift_test = create(test)
    names = list(dict.fromkeys([*schema_a.names, *schema_b.names]))
    columns = []
    for name in names:
        before, after = schema_a.column(name), schema_b.column(name)
        pa_, pb = profile_a.columns.get(name), profile_b.columns.get(name)
        diff = ColumnDiff(
            column=name,
            change=_change(before.type if before else None, after.type if after else None),
            before_type=before.type if before else None,
            after_type=after.type if after else None,
            null_rate_before=pa_.null_rate if pa_ else None,
            null_rate_after=pb.null_rate if pb else None,
        )
        if before is not None and after is not None and pa_ is not None and pb is not None:
            pair = _summaries(pa_, pb, numeric=before.type in NUMERIC and after.type in NUMERIC)
            if pair is not None:
                diff.shift = drift_test.compare(*pair).score
                diff.test = test
        columns.append(diff)
    return DatasetDiff(columns=columns, rows_before=profile_a.rows, rows_after=profile_b.rows)


def _change(before: str | None, after: str | None) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return "unchanged" if before == after else "type_changed"


def _summaries(a: ColumnProfile, b: ColumnProfile, *, numeric: bool) -> tuple[Binned, Binned] | None:
    if numeric and a.bin_edges and a.bin_counts and b.bin_edges and b.bin_counts:
        return Binned.numeric(a.bin_edges, a.bin_counts), Binned.numeric(b.bin_edges, b.bin_counts)
    if not numeric and a.category_freqs and b.category_freqs:
        return Binned.categorical(a.category_freqs, a.count), Binned.categorical(b.category_freqs, b.count)
    return None
