"""Readers and schema inference on the credit data and on small hand-built tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from shipyard.data.errors import UnreadableDataError
from shipyard.data.readers import read_table, read_table_as_strings
from shipyard.data.schema import ColumnSchema, DatasetSchema, allowed_range, infer_schema
from shipyard.errors import InvalidInputError

CREDIT = Path("/work/shared/datasets/credit_data.csv")
CREDIT_COLUMNS = "Status,Seniority,Home,Time,Age,Marital,Records,Job,Expenses,Income,Assets,Debt,Amount,Price"


@pytest.fixture(scope="module")
def credit() -> pa.Table:
    return read_table(CREDIT)


def test_reads_the_credit_csv(credit: pa.Table) -> None:
    assert credit.num_rows == 4454
    assert ",".join(credit.column_names) == CREDIT_COLUMNS
    assert credit["Income"].null_count > 0  # "NA" cells are missing values


def test_infers_credit_types_ranges_and_domains(credit: pa.Table) -> None:
    schema = infer_schema(credit)
    assert schema.names == CREDIT_COLUMNS.split(",")
    age = schema.column("Age")
    assert age is not None and age.type == "integer" and not age.nullable
    assert (age.observed_min, age.observed_max) == (18.0, 68.0)
    assert (age.min, age.max) == (13.0, 73.0)  # widened by 10% of the 50-year span
    home = schema.column("Home")
    assert home is not None and home.type == "category"
    assert home.categories == ["ignore", "other", "owner", "parents", "priv", "rent"]
    status = schema.column("Status")
    assert status is not None and status.categories == ["bad", "good"] and not status.nullable
    income = schema.column("Income")
    assert income is not None and income.type == "float" and income.nullable
    assert income.min == 0.0  # 6 - 95.3 clamped: every observed income is >= 0
    assert income.max == pytest.approx(959 + 0.1 * 953)
    assert schema.column("Nope") is None


def test_schema_json_round_trip(credit: pa.Table) -> None:
    schema = infer_schema(credit)
    again = DatasetSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema


@pytest.mark.parametrize(
    ("kind", "low", "high", "expected"),
    [
        ("integer", 18, 68, (13.0, 73.0)),
        ("float", -10.0, 10.0, (-12.0, 12.0)),
        ("float", 0.5, 1.0, (0.45, 1.05)),
        ("integer", 2, 2, (1.0, 3.0)),  # no span: at least 1 either side, clamped at 0
        ("integer", 0, 7, (0.0, 8.0)),  # 7.7 rounds outward
    ],
)
def test_allowed_range(kind: str, low: float, high: float, expected: tuple[float, float]) -> None:
    assert allowed_range(kind, low, high) == pytest.approx(expected)


def test_small_table_types() -> None:
    table = pa.table(
        {
            "flag": [True, False, None, True],
            "when": pa.array([0, 1, 2, 3], pa.timestamp("s")),
            "name": ["ann", "bob", "cy", "dee"],
            "tier": ["a", "b", "a", "b"],
        }
    )
    kinds = {c.name: (c.type, c.nullable) for c in infer_schema(table).columns}
    assert kinds == {
        "flag": ("boolean", True),
        "when": ("datetime", False),
        "name": ("category", False),  # 4 distinct <= 10: small tables keep a domain
        "tier": ("category", False),
    }


def test_high_cardinality_text_is_a_string_not_a_category() -> None:
    table = pa.table({"id": [f"user-{i}" for i in range(500)], "team": [f"t{i % 40}" for i in range(500)]})
    schema = infer_schema(table)
    assert schema.column("id") == ColumnSchema("id", "string", False)
    team = schema.column("team")
    assert team is not None and team.type == "string"  # 40 distinct > max(10, 5% of 500)


def test_from_dict_rejects_bad_json() -> None:
    with pytest.raises(InvalidInputError) as info:
        ColumnSchema.from_dict({"name": "Age", "type": "int"})
    assert info.value.field == "column Age.type" and "integer" in (info.value.expected or "")
    with pytest.raises(InvalidInputError):
        DatasetSchema.from_dict({"cols": []})
    with pytest.raises(InvalidInputError):
        ColumnSchema.from_dict({"name": "Age", "type": "integer", "min": "low"})


def test_reads_tsv_parquet_and_sniffs_unknown_suffixes(tmp_path: Path) -> None:
    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    pq.write_table(table, tmp_path / "t.parquet")
    pq.write_table(table, tmp_path / "t.data")
    (tmp_path / "t.tsv").write_text("a\tb\n1\tx\n2\ty\n")
    (tmp_path / "t.txt2").write_text("a;b\n1;x\n2;y\n")
    for name in ("t.parquet", "t.data", "t.tsv", "t.txt2"):
        assert read_table(tmp_path / name).equals(table), name


def test_read_as_strings_keeps_raw_cells(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n007,1.50\n,NA\n")
    table = read_table_as_strings(path)
    assert table.schema == pa.schema([("a", pa.string()), ("b", pa.string())])
    assert table["a"].to_pylist() == ["007", None]
    assert table["b"].to_pylist() == ["1.50", None]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", b"", "empty"),
        ("blank.parquet", b"   \n", "empty"),
        ("broken.parquet", b"PAR1 this is not parquet", "cannot read"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "cannot read"),
        ("binary.bin", bytes(range(256)) * 4, "cannot read"),
    ],
)
def test_unreadable_files_give_one_line_errors(
    tmp_path: Path, name: str, content: bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableDataError) as info:
        read_table(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and reason in message
    assert info.value.field == "path" and info.value.value == str(path)
    assert isinstance(info.value, InvalidInputError)


def test_a_directory_is_not_a_data_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDataError):
        read_table(tmp_path)


def test_csv_written_by_arrow_round_trips(tmp_path: Path, credit: pa.Table) -> None:
    pacsv.write_csv(credit.slice(0, 50), tmp_path / "c.csv")
    assert infer_schema(read_table(tmp_path / "c.csv")).names == credit.column_names


def test_infinite_values_do_not_widen_the_inferred_range(tmp_path: Path) -> None:
    import warnings

    from shipyard.data.profile import profile_table
    from shipyard.data.validation import validate_table

    (tmp_path / "inf.csv").write_text("a,b\n1,2\n3,inf\n5,6\n7,-inf\n")
    table = read_table(tmp_path / "inf.csv")
    schema = infer_schema(table)
    b = schema.column("b")
    assert b is not None and (b.observed_min, b.observed_max) == (2.0, 6.0) and not b.nullable
    json.dumps(schema.to_dict(), allow_nan=False)  # strict JSON: no Infinity
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from inf arithmetic
        profile = profile_table(table, schema)
    col = profile.columns["b"]
    assert col.count == 4 and col.null_rate == 0.0 and col.mean == 4.0
    assert sum(col.bin_counts or []) == 2 and all(np.isfinite(col.bin_edges or []))
    json.dumps(profile.to_dict(), allow_nan=False)
    (v,) = validate_table(table, schema).violations  # the infinities are out of the finite range
    assert (v.column, v.check, v.failing, v.examples) == ("b", "range", 2, ["inf", "-inf"])
