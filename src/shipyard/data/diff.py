"""Compare two dataset versions column by column: added, removed, retyped, and drift by the drift engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from shipyard.data.profile import DatasetProfile
from shipyard.data.schema import DatasetSchema

CHANGES = ("added", "removed", "type_changed", "unchanged")


@dataclass
class ColumnDiff:
    """One column's change between versions.

    ``change`` is about the schema type only (``unchanged`` columns may still have drifted). ``shift`` is
    the drift engine's score of the after-distribution against the before-distribution by ``test`` (the
    column's method: ``wasserstein``, ``ks``, ``psi``, ``jensenshannon`` or ``chi2``), ``None`` when
    either side has no distribution (text or all-missing columns, added, removed or retyped columns).
    ``drifted``, ``p_value`` and ``severity`` are the engine's verdict (``core.drift.engine``).
    """

    column: str
    change: str
    before_type: str | None
    after_type: str | None
    shift: float | None = None
    test: str = ""
    null_rate_before: float | None = None
    null_rate_after: float | None = None
    p_value: float | None = None
    drifted: bool = False
    severity: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetDiff:
    """The per-column diff, the two row counts and the engine's settings (``threshold``: a floor override)."""

    columns: list[ColumnDiff]
    rows_before: int
    rows_after: int
    alpha: float = 0.05
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "columns": [c.to_dict() for c in self.columns],
            "alpha": self.alpha,
            "threshold": self.threshold,
        }

    def drifted(self) -> list[str]:
        """Columns the drift engine flagged (significant after Holm's correction and above the effect floor)."""
        return [c.column for c in self.columns if c.drifted]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetDiff:
        return cls(
            columns=[ColumnDiff(**c) for c in d["columns"]],
            rows_before=int(d["rows_before"]),
            rows_after=int(d["rows_after"]),
            alpha=float(d.get("alpha", 0.05)),
            threshold=d.get("threshold"),
        )


def diff_versions(
    schema_a: DatasetSchema,
    profile_a: DatasetProfile,
    schema_b: DatasetSchema,
    profile_b: DatasetProfile,
    *,
    methods: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    threshold: float | None = None,
) -> DatasetDiff:
    """Diff version A (before) against version B (after), in A's column order then B's new columns.

    Columns on both sides with a distribution of the same kind (numbers or categories) are compared by
    ``data.drift.compare_profiles`` from the two stored profiles (no data is reloaded); the verdict is the
    same one ``shipyard monitor drift`` gives.

    Args:
        methods: per-column drift methods (default: chosen by type and size).
        alpha: Holm's family-wise error rate.
        threshold: one effect-size floor for every column instead of each method's default.

    Raises:
        InvalidInputError: a method names an unknown column or does not fit the column's type.
    """
    from shipyard.data.drift import compare_profiles

    names = list(dict.fromkeys([*schema_a.names, *schema_b.names]))
    comparable = []
    columns = []
    for name in names:
        before, after = schema_a.column(name), schema_b.column(name)
        pa_, pb = profile_a.columns.get(name), profile_b.columns.get(name)
        change = _change(before.type if before else None, after.type if after else None)
        if before is not None and after is not None and pa_ is not None and pb is not None:
            comparable.append(name)
        columns.append(ColumnDiff(
            column=name,
            change=change,
            before_type=before.type if before else None,
            after_type=after.type if after else None,
            null_rate_before=pa_.null_rate if pa_ else None,
            null_rate_after=pb.null_rate if pb else None,
        ))
    verdict = compare_profiles(profile_a, profile_b, columns=comparable, methods=methods, alpha=alpha,
                               threshold=threshold).verdict
    for diff in columns:
        result = verdict.columns.get(diff.column)
        if result is not None:
            diff.shift, diff.test, diff.p_value = result.score, result.method, result.p_value
            diff.drifted, diff.severity = result.drifted, result.severity
    return DatasetDiff(columns=columns, rows_before=profile_a.rows, rows_after=profile_b.rows, alpha=alpha,
                       threshold=threshold)


def _change(before: str | None, after: str | None) -> str:
    if before is None:
        return "added"
    if after is None:
        return "removed"
    return "unchanged" if before == after else "type_changed"
