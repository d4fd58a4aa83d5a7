"""Dataset schema: per-column logical type, nullability, allowed range or category domain; inference."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.data.readers import NULL_VALUES
from shipyard.errors import InvalidInputError

TYPES = ("integer", "float", "boolean", "category", "string", "datetime")
NUMERIC = ("integer", "float")
RANGE_MARGIN = 0.10  # allowed range = observed range widened by 10% of its span on each side
MAX_CATEGORIES = 50  # a text column is a category when it has at most this many distinct values ...
CATEGORY_SHARE = 0.05  # ... and at most max(10, 5% of its non-missing values)
MIN_CATEGORY_LIMIT = 10
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


@dataclass(frozen=True)
class ColumnSchema:
    """One column's contract.

    ``min``/``max`` are the ALLOWED range, not the observed one: min/max copied from a reference make
    clean data fail on tail values, so the observed range is widened by ``RANGE_MARGIN`` (10%) of its
    span on each side (10% of the value, at least 1, when all values are equal); the lower bound is
    clamped at 0 when every observed value is >= 0, and integer columns round outward to integers.
    ``categories`` is the domain of a ``category`` column (sorted), ``None`` for every other type.
    """

    name: str
    type: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    observed_min: float | None = None
    observed_max: float | None = None
    categories: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnSchema:
        """Rebuild from :meth:`to_dict` output (or hand-written JSON); unknown keys are rejected."""
        if not isinstance(d, dict) or not isinstance(d.get("name"), str):
            raise InvalidInputError(field="schema column", value=d, expected="an object with a string 'name'")
        name = d["name"]
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(
                field=f"column {name}", value=sorted(unknown), expected=", ".join(cls.__dataclass_fields__)
            )
        kind = d.get("type")
        if kind not in TYPES:
            raise InvalidInputError(field=f"column {name}.type", value=kind, expected=" | ".join(TYPES))
        numbers = {
            k: _number(d.get(k), f"column {name}.{k}") for k in ("min", "max", "observed_min", "observed_max")
        }
        categories = d.get("categories")
        if categories is not None and not isinstance(categories, list):
            raise InvalidInputError(
                field=f"column {name}.categories", value=categories, expected="a list of strings"
            )
        return cls(
            name=name,
            type=kind,
            nullable=bool(d.get("nullable", True)),
            categories=None if categories is None else [str(c) for c in categories],
            **numbers,
        )

    def describe(self) -> str:
        """What a value must look like, e.g. ``"integer in [13, 73]"`` or ``"one of owner, rent"``."""
        if self.type == "category" and self.categories is not None:
            shown = ", ".join(self.categories[:10])
            return f"one of {shown}{', ...' if len(self.categories) > 10 else ''}"
        if self.type in NUMERIC and self.min is not None and self.max is not None:
            return f"{self.type} in [{format_number(self.min)}, {format_number(self.max)}]"
        return self.type


@dataclass(frozen=True)
class DatasetSchema:
    """The columns of a dataset version, in file order."""

    columns: tuple[ColumnSchema, ...]

    def column(self, name: str) -> ColumnSchema | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSchema:
        if not isinstance(d, dict) or not isinstance(d.get("columns"), list):
            raise InvalidInputError(
                field="schema", value=type(d).__name__, expected="an object with a 'columns' list"
            )
        return cls(columns=tuple(ColumnSchema.from_dict(c) for c in d["columns"]))


def infer_schema(table: pa.Table) -> DatasetSchema:
    """Infer each column's type, nullability, allowed range (see :class:`ColumnSchema`) and domain.

    Raises:
        InvalidInputError: a column name repeats (``read_table`` refuses such files first).
    """
    names = table.column_names
    for name in dict.fromkeys(names):
        if names.count(name) > 1:
            raise InvalidInputError(field="header", value=name,
                                    expected=f"unique column names ({name!r} appears {names.count(name)} times)")
    return DatasetSchema(
        columns=tuple(_infer_column(name, table.column(name)) for name in table.column_names)
    )


def arrow_kind(arrow_type: pa.DataType) -> str:
    """The logical type an Arrow type maps to; every text-like type is ``"string"``."""
    if pa.types.is_dictionary(arrow_type):
        return arrow_kind(arrow_type.value_type)
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_temporal(arrow_type):
        return "datetime"
    return "string"


def as_float(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric (or boolean) column as float64 with NaN for missing values (zero-copy when possible)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def as_text(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """A column as Arrow strings (dictionary-encoded columns decoded first)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def parse_numbers(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse a text column as numbers, vectorised.

    Returns:
        ``(values, bad)``: float64 values with NaN where missing or unparsable, and a boolean mask of
        cells that hold something other than a number or a missing-value marker (``NULL_VALUES``).
    """
    trimmed = pc.utf8_trim_whitespace(as_text(column))
    missing = pc.or_kleene(pc.is_null(trimmed), pc.is_in(trimmed, value_set=pa.array(NULL_VALUES)))
    number = pc.fill_null(pc.match_substring_regex(trimmed, NUMBER_PATTERN), False)
    values = as_float(pc.if_else(number, trimmed, pa.scalar(None, pa.string())))
    bad = pc.and_(pc.invert(number), pc.invert(pc.fill_null(missing, True)))
    return values, _to_bool(bad)


def _to_bool(mask: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def format_number(value: float) -> str:
    """A number as shown to users: no trailing ``.0`` for whole numbers, up to 6 significant digits."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def allowed_range(kind: str, low: float, high: float) -> tuple[float, float]:
    """The observed range widened by the margin documented on :class:`ColumnSchema`."""
    span = high - low
    margin = RANGE_MARGIN * span if span > 0 else max(RANGE_MARGIN * abs(low), 1.0)
    lower, upper = low - margin, high + margin
    if low >= 0:
        lower = max(lower, 0.0)
    if kind == "integer":
        lower, upper = float(math.floor(lower)), float(math.ceil(upper))
    return lower, upper


def is_category(distinct: int, non_null: int) -> bool:
    """The rule for calling a text column a category (see ``MAX_CATEGORIES``, ``CATEGORY_SHARE``)."""
    limit = min(MAX_CATEGORIES, max(MIN_CATEGORY_LIMIT, CATEGORY_SHARE * non_null))
    return 0 < distinct <= limit


def _infer_column(name: str, column: pa.ChunkedArray) -> ColumnSchema:
    kind = arrow_kind(column.type)
    nullable = column.null_count > 0
    if kind in NUMERIC:
        values = as_float(column)
        present = values[~np.isnan(values)]
        nullable = nullable or present.size < values.size
        finite = present[np.isfinite(present)]  # ±inf is not a bound: it would allow every value (and is not JSON)
        if finite.size == 0:
            return ColumnSchema(name, kind, nullable)
        low, high = float(finite.min()), float(finite.max())
        lower, upper = allowed_range(kind, low, high)
        return ColumnSchema(name, kind, nullable, lower, upper, low, high)
    if kind == "string":
        text = as_text(column)
        # A prefix with too many distinct values settles it without hashing a whole free-text column.
        if pc.count_distinct(text.slice(0, 10_000)).as_py() > MAX_CATEGORIES:
            return ColumnSchema(name, kind, nullable)
        distinct = pc.count_distinct(text).as_py()
        if is_category(distinct, len(text) - text.null_count):
            domain = sorted(v for v in pc.unique(text).to_pylist() if v is not None)
            return ColumnSchema(name, "category", nullable, categories=domain)
    return ColumnSchema(name, kind, nullable)


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(field=field, value=value, expected="a number or null")
    return float(value)
