"""Drift test Protocol and value types: results, binned references and raw samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, Union

import numpy as np
import numpy.typing as npt

from shipyard.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class DriftResult:
    """Outcome of one drift test on one column.

    Attributes:
        statistic: the raw test statistic (PSI value, KS D, chi-square, JS distance).
        score: a distance comparable across columns and compared with thresholds
            (PSI value, KS D, Cramér's V for chi-square, JS distance).
        p_value: the test's p-value, ``None`` for pure distances (PSI, Jensen-Shannon).
        drifted: the test's own decision (p-value under ``alpha`` or score at/over ``threshold``).
        test: the test name as registered in ``factory.TESTS``.
    """

    statistic: float
    score: float
    p_value: float | None
    drifted: bool
    test: str

    def to_dict(self) -> dict[str, float | bool | str | None]:
        return {
            "statistic": self.statistic,
            "score": self.score,
            "p_value": self.p_value,
            "drifted": self.drifted,
            "test": self.test,
        }


@dataclass(frozen=True, slots=True)
class Binned:
    """A distribution already summarised, as stored in a dataset profile.

    Numeric: ``edges`` (ascending, ``len(counts) + 1`` of them; the outer bins are treated as open
    so values beyond the reference range land in the first or last bin). Categorical: ``labels``
    (one per count). ``counts`` are absolute counts, not frequencies, because chi-square needs
    sample sizes; build it from a profile's frequencies with :meth:`categorical` and ``total``.
    """

    counts: tuple[float, ...]
    edges: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None

    @classmethod
    def numeric(cls, edges: Sequence[float], counts: Sequence[float]) -> Binned:
        if len(edges) != len(counts) + 1 or len(counts) == 0:
            raise InvalidInputError(
                field="edges",
                value=len(edges),
                expected=f"{len(counts) + 1} bin edges for {len(counts)} counts",
            )
        if any(b < a for a, b in zip(edges, edges[1:], strict=False)):
            raise InvalidInputError(field="edges", value=list(edges), expected="ascending bin edges")
        return cls(counts=tuple(float(c) for c in counts), edges=tuple(float(e) for e in edges))

    @classmethod
    def categorical(cls, freqs: Mapping[str, float], total: float = 1.0) -> Binned:
        """Build from category frequencies (or counts, with ``total=1``) scaled by ``total``."""
        labels = tuple(str(k) for k in freqs)
        return cls(counts=tuple(float(v) * total for v in freqs.values()), labels=labels)

    @property
    def is_numeric(self) -> bool:
        return self.edges is not None

    @property
    def total(self) -> float:
        return float(sum(self.counts))


Sample = Union[npt.ArrayLike, Binned]  # noqa: UP007 - runtime alias
"""What a drift test compares: raw values (numbers or labels) or a :class:`Binned` summary."""


class DriftTest(Protocol):
    """A two-sample drift test; implementations live one per file and are listed in ``factory.TESTS``."""

    name: str

    def compare(self, reference: Sample, current: Sample) -> DriftResult:
        """Compare the current distribution with the reference.

        Args:
            reference: raw reference values, or a :class:`Binned` summary from a profile.
            current: raw current values, or a :class:`Binned` summary of the same kind.

        Returns:
            The statistic, a comparable score, the p-value when the test has one, and the decision.

        Raises:
            InvalidInputError: the inputs are empty or of a kind the test cannot compare.
        """
        ...


def as_values(values: npt.ArrayLike, field: str) -> np.ndarray:
    """Raw values as a 1-D array without missing entries: float64 for numbers, str objects for labels.

    Accepts lists, NumPy arrays and pyarrow arrays; nulls, ``None`` and NaN are dropped.

    Raises:
        InvalidInputError: the values are neither numbers nor labels (e.g. nested lists).
    """
    if _is_arrow(values):
        import pyarrow as pa
        import pyarrow.compute as pc

        arrow = pc.drop_null(values)
        kind = arrow.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
            values = arrow.cast(pa.float64()).to_numpy(zero_copy_only=False)
        else:
            values = arrow.cast(pa.string()).to_numpy(zero_copy_only=False)
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind == "O":
        arr = arr[arr != None]  # noqa: E711 - elementwise comparison, drops missing labels
        arr = np.asarray(arr.tolist()) if arr.size else np.empty(0, dtype=np.float64)
    if arr.dtype.kind in "biuf":
        out = arr.astype(np.float64, copy=False)
        return out[~np.isnan(out)]
    if arr.dtype.kind in "US":
        return arr.astype(str).astype(object)
    raise InvalidInputError(field=field, value=str(arr.dtype), expected="numbers or text labels")


def is_numeric(values: np.ndarray) -> bool:
    return values.dtype.kind == "f"


def _is_arrow(values: object) -> bool:
    return type(values).__module__.startswith("pyarrow")
