"""Drift between two dataset profiles: the one rule that ``data diff``, the validate step and ``monitor drift`` share.

Profiles become ``core.drift`` summaries (a numeric quantile sketch, or the 10 bins of an older profile;
category counts) and ``core.drift.engine.compare`` gives the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.drift.engine import DEFAULT_ALPHA, DriftVerdict, Summary, compare
from shipyard.core.drift.summary import CategoricalSummary, NumericSummary
from shipyard.data.profile import ColumnProfile, DatasetProfile


def summarise(profile: ColumnProfile) -> Summary | None:
    """A column profile as a drift summary; ``None`` when it holds no distribution (free text, all missing)."""
    if profile.quantiles or (profile.bin_edges and profile.bin_counts):
        return NumericSummary.from_profile(profile.count, profile.std, profile.quantiles, profile.bin_edges,
                                           profile.bin_counts)
    if profile.category_freqs and profile.count:
        return CategoricalSummary.from_freqs(profile.category_freqs, profile.count)
    return None


@dataclass
class ProfileDrift:
    """The verdict plus the columns that could not be compared, and why."""

    verdict: DriftVerdict
    skipped: dict[str, str] = field(default_factory=dict)
    pairs: dict[str, tuple[Summary, Summary]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.verdict.to_dict(), "skipped": dict(self.skipped)}


def compare_profiles(reference: DatasetProfile, current: DatasetProfile, *, columns: list[str] | None = None,
                     methods: Mapping[str, str] | None = None, alpha: float = DEFAULT_ALPHA,
                     threshold: float | None = None) -> ProfileDrift:
    """Compare every column present on both sides with a distribution of the same kind.

    Args:
        columns: restrict to these columns (default: the reference's, in its order).
        methods: per-column method overrides.
        alpha: Holm's family-wise error rate.
        threshold: one effect-size floor for all columns (default: each method's floor).
    """
    names = columns if columns is not None else list(reference.columns)
    pairs: dict[str, tuple[Summary, Summary]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        ref, cur = reference.columns.get(name), current.columns.get(name)
        if ref is None or cur is None:
            skipped[name] = "missing in the " + ("reference" if ref is None else "current data")
            continue
        a, b = summarise(ref), summarise(cur)
        if a is None or b is None:
            skipped[name] = "no distribution to compare (free text or all missing)"
        elif type(a) is not type(b):
            skipped[name] = "numbers on one side, categories on the other"
        else:
            pairs[name] = (a, b)
    verdict = compare(pairs, methods=methods, alpha=alpha, floor=threshold)
    return ProfileDrift(verdict=verdict, skipped=skipped, pairs=pairs)
