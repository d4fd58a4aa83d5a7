"""Validate a table against a dataset schema: columns, types, nulls, ranges and category domains."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.data.schema import (
    NUMERIC,
    ColumnSchema,
    DatasetSchema,
    arrow_kind,
    as_float,
    as_text,
    parse_numbers,
)

MAX_EXAMPLES = 5
BOOLEAN_WORDS = ["true", "false", "t", "f", "yes", "no", "y", "n", "1", "0"]
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
CHECKS = ("rows", "missing_column", "extra_column", "type", "null", "range", "category")
TABLE = "(table)"  # the column name of a check on the whole table


@dataclass(frozen=True)
class Violation:
    """One failed check on one column.

    ``failing`` counts the rows that fail (all rows for a missing or extra column). ``examples`` holds
    up to five distinct offending values as text, in order of first appearance; for ``null`` it holds
    1-based data row numbers (``"row 7"``: the 7th row after the header).
    """

    column: str
    check: str
    failing: int
    examples: list[str]
    expected: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "check": self.check,
            "failing": self.failing,
            "examples": list(self.examples),
            "expected": self.expected,
        }


@dataclass
class ValidationReport:
    """All violations of one table; ``ok`` when there are none."""

    rows: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "ok": self.ok, "violations": [v.to_dict() for v in self.violations]}


def validate_table(table: pa.Table, schema: DatasetSchema, *, ignore: Iterable[str] = ()) -> ValidationReport:
    """Check ``table`` against ``schema``; columns named in ``ignore`` are skipped by every check.

    Works on whatever types the reader inferred: a numeric column read as text because one cell
    holds ``"abc"`` is parsed, and only the unparsable cells are type violations. Integers in a float
    column are fine; numbers with a fraction in an integer column are type violations. NaN counts as
    missing.
    """
    skip = set(ignore)
    rows = table.num_rows
    present = set(table.column_names)
    violations: list[Violation] = []
    if rows == 0:  # an upstream job that wrote only a header: every per-column check would pass vacuously
        violations.append(Violation(TABLE, "rows", 0, [], "at least 1 data row"))
    for col in schema.columns:
        if col.name not in skip and col.name not in present:
            violations.append(
                Violation(col.name, "missing_column", rows, [], f"a column of {col.describe()}")
            )
    known = set(schema.names)
    listed = ", ".join(schema.names[:10]) + (", ..." if len(schema.names) > 10 else "")
    for name in table.column_names:
        if name not in skip and name not in known:
            violations.append(
                Violation(name, "extra_column", rows, [], f"only the schema's columns: {listed}")
            )
    for col in schema.columns:
        if col.name not in skip and col.name in present:
            violations.extend(_check_column(col, table.column(col.name)))
    return ValidationReport(rows=rows, violations=violations)


def _check_column(col: ColumnSchema, column: pa.ChunkedArray) -> list[Violation]:
    if col.type in NUMERIC:
        return _check_numeric(col, column)
    if col.type == "category":
        return _check_category(col, column)
    if col.type == "boolean":
        return _check_pattern(
            col,
            column,
            "boolean",
            lambda text: pc.is_in(pc.utf8_lower(text), value_set=pa.array(BOOLEAN_WORDS)),
        )
    if col.type == "datetime":
        return _check_pattern(
            col, column, "datetime", lambda text: pc.match_substring_regex(text, DATETIME_PATTERN)
        )
    return _null_violations(col, _to_numpy(column.is_null()))


def _check_numeric(col: ColumnSchema, column: pa.ChunkedArray) -> list[Violation]:
    source = arrow_kind(column.type)
    if source in NUMERIC:
        values = as_float(column)
        bad = np.zeros(values.size, dtype=bool)
    elif source == "string":
        values, bad = parse_numbers(column)
    else:  # booleans or timestamps are not numbers
        values = np.full(len(column), np.nan)
        bad = ~_to_numpy(column.is_null())
    missing = np.isnan(values) & ~bad
    if col.type == "integer":
        with np.errstate(invalid="ignore"):
            bad |= np.isfinite(values) & (values != np.floor(values))
    violations = [_violation(col, "type", bad, column)]
    usable = ~bad & ~missing
    if col.min is not None or col.max is not None:
        low = -np.inf if col.min is None else col.min
        high = np.inf if col.max is None else col.max
        with np.errstate(invalid="ignore"):
            violations.append(_violation(col, "range", usable & ((values < low) | (values > high)), column))
    violations.extend(_null_violations(col, missing))
    return [v for v in violations if v is not None]


def _check_category(col: ColumnSchema, column: pa.ChunkedArray) -> list[Violation]:
    text = as_text(column)
    missing = _to_numpy(text.is_null())
    violations = _null_violations(col, missing)
    if col.categories is not None:
        known = _to_numpy(pc.is_in(text, value_set=pa.array(col.categories, pa.string())))
        unseen = _violation(col, "category", ~known & ~missing, column)
        if unseen is not None:
            violations.insert(0, unseen)
    return violations


def _check_pattern(col: ColumnSchema, column: pa.ChunkedArray, kind: str, matches: Any) -> list[Violation]:
    missing = _to_numpy(column.is_null())
    source = arrow_kind(column.type)
    if source == kind:
        bad = np.zeros(len(column), dtype=bool)
    elif source == "string" or (kind == "boolean" and source == "integer"):
        text = pc.utf8_trim_whitespace(as_text(column))
        bad = ~_to_numpy(pc.fill_null(matches(text), True))
    else:
        bad = ~missing
    found = _violation(col, "type", bad, column)
    return ([found] if found is not None else []) + _null_violations(col, missing)


def _null_violations(col: ColumnSchema, missing: np.ndarray) -> list[Violation]:
    if col.nullable or not missing.any():
        return []
    rows = [f"row {i + 1}" for i in np.flatnonzero(missing)[:MAX_EXAMPLES]]
    return [Violation(col.name, "null", int(missing.sum()), rows, f"a non-missing {col.type}")]


def _violation(col: ColumnSchema, check: str, mask: np.ndarray, column: pa.ChunkedArray) -> Violation | None:
    failing = int(mask.sum())
    if failing == 0:
        return None
    # Only a bounded prefix of the offending cells is rendered, so examples cost O(1) per check.
    picked = pc.take(column, pa.array(np.flatnonzero(mask)[: MAX_EXAMPLES * 40]))
    examples = [v for v in pc.unique(as_text(picked)).to_pylist() if v is not None][:MAX_EXAMPLES]
    return Violation(col.name, check, failing, examples, col.describe())


def _to_numpy(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)
