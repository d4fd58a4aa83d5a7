"""Dataset profiles: per-column statistics kept as the drift reference (quantile bins, category shares)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.core.drift.binning import DEFAULT_BINS
from shipyard.core.drift.summary import sketch_sorted
from shipyard.data.schema import NUMERIC, DatasetSchema, arrow_kind, as_float, as_text, parse_numbers
from shipyard.errors import InvalidInputError

MAX_FREQS = 1000  # category shares are kept only up to this many distinct values


@dataclass
class ColumnProfile:
    """Statistics of one column.

    ``count`` is the number of non-missing values and ``null_rate`` the missing share of all rows.
    Numeric columns carry ``mean``, ``std`` (sample, ddof=1) and ``bin_edges`` (de-duplicated
    quantiles at 0, 10%, ..., 100%) with ``bin_counts`` (outer bins open, a value on an inner edge
    counted to its right: ``core.drift.binning.counts_on_edges``). Category and boolean columns carry
    ``category_freqs`` (shares of the non-missing values, summing to 1). ``distinct`` counts
    distinct non-missing values. Numeric columns profiled since issue 16 also carry ``quantiles``: the
    drift engine's sketch, 1,001 values at quantiles 0, 0.001, ..., 1 (``core.drift.summary``), so
    Kolmogorov-Smirnov and Wasserstein work from the profile alone; older profiles lack it (``None``).
    """

    name: str
    count: int
    null_rate: float
    mean: float | None = None
    std: float | None = None
    bin_edges: list[float] | None = None
    bin_counts: list[int] | None = None
    category_freqs: dict[str, float] | None = None
    distinct: int = 0
    quantiles: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        names = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or "name" not in d or set(d) - names:
            raise InvalidInputError(
                field="profile column", value=d, expected=f"an object with keys {sorted(names)}"
            )
        return cls(**d)


@dataclass
class DatasetProfile:
    """Row count and a profile per column (in file order)."""

    rows: int
    columns: dict[str, ColumnProfile]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "columns": {name: c.to_dict() for name, c in self.columns.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetProfile:
        if not isinstance(d, dict) or not isinstance(d.get("columns"), dict):
            raise InvalidInputError(
                field="profile", value=type(d).__name__, expected="an object with 'rows' and 'columns'"
            )
        return cls(
            rows=int(d.get("rows", 0)),
            columns={name: ColumnProfile.from_dict(c) for name, c in d["columns"].items()},
        )


def profile_table(table: pa.Table, schema: DatasetSchema, bins: int = DEFAULT_BINS) -> DatasetProfile:
    """Profile every column of ``table``; a column the schema lacks is profiled by its Arrow type.

    Numeric schema columns held as text (a file with a stray ``"abc"``) are parsed; unparsable cells
    count as missing here (validation reports them).
    """
    rows = table.num_rows
    columns: dict[str, ColumnProfile] = {}
    for name in table.column_names:
        column = table.column(name)
        declared = schema.column(name)
        kind = declared.type if declared is not None else arrow_kind(column.type)
        if kind in NUMERIC or kind == "datetime":
            columns[name] = _numeric_profile(name, kind, column, rows, bins)
        else:
            columns[name] = _text_profile(name, kind, column, rows)
    return DatasetProfile(rows=rows, columns=columns)


def _numeric_profile(name: str, kind: str, column: pa.ChunkedArray, rows: int, bins: int) -> ColumnProfile:
    source = arrow_kind(column.type)
    if source == "string":
        values, _ = parse_numbers(column)
    elif source == "datetime" and not pa.types.is_timestamp(column.type):
        values = as_float(column.cast(pa.timestamp("s")).cast(pa.int64()))
    elif source == "datetime":  # epoch seconds, whatever the unit
        values = as_float(column.cast(pa.timestamp("us")).cast(pa.int64())) / 1e6
    elif source in NUMERIC or source == "boolean":
        values = as_float(column)
    else:
        values = np.empty(0)
    values = values[~np.isnan(values)]
    count = int(values.size)
    profile = ColumnProfile(name=name, count=count, null_rate=_null_rate(count, rows))
    values = values[np.isfinite(values)]  # ±inf counts as present, but bins, mean and std are of finite values
    if values.size == 0:
        return profile
    # One sort serves quantiles, bin counts and the distinct count (Arrow's hash count is slow on floats).
    ordered = np.sort(values)
    edges = _sorted_quantile_edges(ordered, bins)
    below = np.searchsorted(ordered, edges[1:-1], side="left")  # same bins as counts_on_edges
    profile.bin_edges = edges.tolist()
    profile.bin_counts = np.diff(np.concatenate([[0], below, [ordered.size]])).astype(np.int64).tolist()
    profile.distinct = int(np.count_nonzero(ordered[1:] != ordered[:-1]) + 1)
    profile.quantiles = sketch_sorted(ordered).tolist()
    if kind != "datetime":
        profile.mean = float(values.mean())
        profile.std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return profile


def _text_profile(name: str, kind: str, column: pa.ChunkedArray, rows: int) -> ColumnProfile:
    text = as_text(column)
    count = len(text) - text.null_count
    profile = ColumnProfile(name=name, count=count, null_rate=_null_rate(count, rows))
    if kind not in ("category", "boolean"):  # free text: no shares, and no label list to build
        profile.distinct = int(pc.count_distinct(text).as_py())
        return profile
    counts = pc.value_counts(pc.drop_null(text))
    labels = counts.field("values").to_pylist()
    tallies = np.asarray(counts.field("counts"), dtype=np.int64)
    profile.distinct = len(labels)
    if count and len(labels) <= MAX_FREQS:
        order = np.argsort(-tallies, kind="stable")
        profile.category_freqs = {str(labels[i]): float(tallies[i] / count) for i in order}
    return profile


def _sorted_quantile_edges(ordered: np.ndarray, bins: int) -> np.ndarray:
    """``quantile_edges`` (NumPy's linear method) on an already sorted array, without re-partitioning."""
    position = np.linspace(0.0, 1.0, bins + 1) * (ordered.size - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.size - 1)
    edges = np.unique(ordered[low] + (ordered[high] - ordered[low]) * (position - low))
    return edges if edges.size > 1 else np.array([edges[0], edges[0]])


def _null_rate(count: int, rows: int) -> float:
    return 0.0 if rows == 0 else (rows - count) / rows
