"""Validation against an inferred schema: clean data passes, each kind of bad cell is counted and shown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shipyard.data.readers import read_table
from shipyard.data.schema import ColumnSchema, DatasetSchema, infer_schema
from shipyard.data.validation import ValidationReport, Violation, validate_table

CREDIT = Path("/work/shared/datasets/credit_data.csv")


@pytest.fixture(scope="module")
def credit() -> pa.Table:
    return read_table(CREDIT)


@pytest.fixture(scope="module")
def schema(credit: pa.Table) -> DatasetSchema:
    return infer_schema(credit)


def _summary(report: ValidationReport) -> list[tuple[str, str, int, list[str]]]:
    return [(v.column, v.check, v.failing, v.examples) for v in report.violations]


def test_the_reference_itself_and_a_clean_subset_validate(credit: pa.Table, schema: DatasetSchema) -> None:
    assert validate_table(credit, schema).ok
    subset = credit.filter(pc.equal(credit["Status"], "good")).slice(100, 1500)
    report = validate_table(subset, schema)
    assert report.ok and report.violations == [] and report.rows == 1500
    assert report.to_dict() == {"rows": 1500, "ok": True, "violations": []}


def test_a_clean_csv_file_validates(tmp_path: Path) -> None:
    lines = CREDIT.read_text().splitlines()
    (tmp_path / "part.csv").write_text("\n".join(lines[:1] + lines[2000:2600]) + "\n")
    reference = infer_schema(read_table(CREDIT))
    assert validate_table(read_table(tmp_path / "part.csv"), reference).violations == []


def test_a_header_without_rows_fails_as_a_table_check(tmp_path: Path, schema: DatasetSchema) -> None:
    header = CREDIT.read_text().splitlines()[0]
    (tmp_path / "empty.csv").write_text(header + "\n")
    report = validate_table(read_table(tmp_path / "empty.csv"), schema)
    assert not report.ok and report.rows == 0
    assert _summary(report)[0] == ("(table)", "rows", 0, [])
    assert report.violations[0].expected == "at least 1 data row"


def test_a_bad_file_gets_exactly_its_violations(tmp_path: Path, schema: DatasetSchema) -> None:
    lines = [line.split(",") for line in CREDIT.read_text().splitlines()[:201]]
    header = lines[0]
    age, home, price = header.index("Age"), header.index("Home"), header.index("Price")
    lines[4][age] = "abc"  # data row 4
    lines[9][age] = "500"
    lines[12][home] = "spaceship"
    lines[30][home] = "spaceship"
    lines[31][home] = "boat"
    rows = [",".join(cell for i, cell in enumerate(line) if i != price) for line in lines]
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    table = read_table(path)
    assert table.schema.field("Age").type == pa.string()  # the reader gave up on numbers

    report = validate_table(table, schema)
    assert not report.ok
    assert _summary(report) == [
        ("Price", "missing_column", 200, []),
        ("Home", "category", 3, ["spaceship", "boat"]),  # then the schema's column order
        ("Age", "type", 1, ["abc"]),
        ("Age", "range", 1, ["500"]),
    ]
    by_check = {v.check: v for v in report.violations}
    assert by_check["range"].expected == "integer in [13, 73]"
    assert by_check["category"].expected == "one of ignore, other, owner, parents, priv, rent"
    assert report.to_dict()["violations"][2] == {
        "column": "Age",
        "check": "type",
        "failing": 1,
        "examples": ["abc"],
        "expected": "integer in [13, 73]",
    }


def test_extra_columns_and_ignore(credit: pa.Table, schema: DatasetSchema) -> None:
    table = credit.slice(0, 10).append_column("Shoe", pa.array(range(10))).drop_columns(["Debt"])
    assert _summary(validate_table(table, schema)) == [
        ("Debt", "missing_column", 10, []),
        ("Shoe", "extra_column", 10, []),
    ]
    assert validate_table(table, schema, ignore=["Shoe", "Debt"]).ok


def test_nulls_in_a_non_nullable_column_list_row_numbers(credit: pa.Table, schema: DatasetSchema) -> None:
    ages = credit["Age"].to_pylist()[:20]
    ages[2] = ages[7] = None
    table = credit.slice(0, 20).set_column(credit.column_names.index("Age"), "Age", pa.array(ages))
    assert _summary(validate_table(table, schema)) == [("Age", "null", 2, ["row 3", "row 8"])]
    incomes = pa.array([None] * 20, pa.float64())  # Income is nullable
    table = credit.slice(0, 20).set_column(credit.column_names.index("Income"), "Income", incomes)
    assert validate_table(table, schema).ok


def test_numeric_type_rules() -> None:
    schema = DatasetSchema(
        (
            ColumnSchema("n", "integer", nullable=False, min=0, max=100),
            ColumnSchema("x", "float", nullable=True, min=0, max=10),
        )
    )
    table = pa.table({"n": [1.0, 2.5, 3.0, np.nan], "x": pa.array([1, 2, 30, 4], pa.int64())})
    assert _summary(validate_table(table, schema)) == [
        ("n", "type", 1, ["2.5"]),  # a fraction in an integer column
        ("n", "null", 1, ["row 4"]),  # NaN is missing
        ("x", "range", 1, ["30"]),  # integers in a float column are fine
    ]


def test_text_numbers_with_missing_markers_and_whitespace() -> None:
    schema = DatasetSchema((ColumnSchema("n", "integer", nullable=True, min=0, max=100),))
    table = pa.table({"n": [" 7 ", "NA", "", None, "1e1", "x1", "x1", "-3"]})
    assert _summary(validate_table(table, schema)) == [
        ("n", "type", 2, ["x1"]),
        ("n", "range", 1, ["-3"]),
    ]


def test_boolean_datetime_and_string_columns() -> None:
    schema = DatasetSchema(
        (
            ColumnSchema("flag", "boolean", nullable=False),
            ColumnSchema("when", "datetime", nullable=True),
            ColumnSchema("note", "string", nullable=True),
            ColumnSchema("code", "category", nullable=True, categories=["1", "2"]),
        )
    )
    table = pa.table(
        {
            "flag": ["true", "No", "maybe", "1"],
            "when": ["2024-01-02", "2024-01-02T03:04:05Z", "yesterday", None],
            "note": ["a", None, "c", "d"],
            "code": pa.array([1, 2, 3, None]),  # numbers read from a file are compared as text
        }
    )
    assert _summary(validate_table(table, schema)) == [
        ("flag", "type", 1, ["maybe"]),
        ("when", "type", 1, ["yesterday"]),
        ("code", "category", 1, ["3"]),
    ]


def test_examples_are_distinct_and_at_most_five() -> None:
    schema = DatasetSchema((ColumnSchema("c", "category", nullable=True, categories=["ok"]),))
    values = ["ok"] + [f"bad{i % 8}" for i in range(100)]
    (violation,) = validate_table(pa.table({"c": values}), schema).violations
    assert violation == Violation("c", "category", 100, [f"bad{i}" for i in range(5)], "one of ok")


def test_chunked_columns_give_the_same_counts(credit: pa.Table, schema: DatasetSchema) -> None:
    ages = pa.chunked_array([pa.array(["30", "abc"]), pa.array(["500", "41"])])
    table = credit.slice(0, 4).set_column(credit.column_names.index("Age"), "Age", ages)
    assert [(v.check, v.failing) for v in validate_table(table, schema).violations] == [
        ("type", 1),
        ("range", 1),
    ]
