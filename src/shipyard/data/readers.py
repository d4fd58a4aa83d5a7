"""Read CSV/TSV or Parquet files into Arrow tables, with one-line errors for unreadable input."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipyard.data.errors import UnreadableDataError

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t", ".txt": ","}
PARQUET_SUFFIXES = {".parquet", ".pq"}
PARQUET_MAGIC = b"PAR1"
EXPECTED = "a CSV, TSV or Parquet file with a header row"
UNIQUE_EXPECTED = "unique column names (rename or drop the repeated column)"
FLAT_EXPECTED = "flat columns: numbers, booleans, text, categories or dates"
# Cells read as missing in every column, strings included ("" in a category column is a missing value).
NULL_VALUES = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "#N/A", "-NaN", "-nan"]


def read_table(path: str | Path) -> pa.Table:
    """Read a data file: the suffix picks the format (.csv, .tsv, .parquet, .pq), else the bytes are sniffed.

    Raises:
        UnreadableDataError: the file is missing, empty, not a table or of an unknown format.
    """
    return _read(Path(path), as_strings=False)


def read_table_as_strings(path: str | Path) -> pa.Table:
    """Read a data file with every column as text (raw cells of a CSV; Parquet values cast to string).

    Raises:
        UnreadableDataError: as :func:`read_table`.
    """
    return _read(Path(path), as_strings=True)


def _read(path: Path, *, as_strings: bool) -> pa.Table:
    if not path.is_file():
        problem = "not a file" if path.exists() else "no such file"
        raise UnreadableDataError(
            f"{path}: {problem}; expected {EXPECTED}", field="path", value=str(path), expected=EXPECTED
        )
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise _unreadable(path, exc.strerror or "cannot be opened") from exc
    if not head.strip():
        raise _unreadable(path, "the file is empty")
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES or (suffix not in CSV_SUFFIXES and head.startswith(PARQUET_MAGIC)):
            table = _read_parquet(path, as_strings)
        else:
            delimiter = CSV_SUFFIXES.get(suffix) or _sniff_delimiter(path, head)
            table = _read_csv(path, delimiter, as_strings)
    except (pa.ArrowException, OSError, UnicodeDecodeError, ValueError) as exc:
        raise _unreadable(path, _first_line(exc)) from exc
    if table.num_columns == 0:
        raise _unreadable(path, "no columns found")
    try:
        names = table.column_names
    except UnicodeDecodeError:
        raise _unreadable(path, "the header row is not UTF-8 text; re-save the file as UTF-8") from None
    _check_unique(path, names)
    for name, typ in zip(names, table.schema.types, strict=True):
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            raise _unreadable(path, f"column {name!r} holds bytes that are not UTF-8 text; re-save the file as UTF-8")
        value_type = typ.value_type if pa.types.is_dictionary(typ) else typ
        if pa.types.is_nested(value_type):
            # Lists, structs, maps and unions have no schema type, profile or drift statistic here, and a
            # signature cannot declare them; refusing beats guessing a text form the gateway would not accept.
            raise UnreadableDataError(
                f"{path}: column {name!r} has the nested type {value_type}; expected {FLAT_EXPECTED} "
                "(flatten it into one column per field, or drop it)",
                field=f"column {name}", value=str(value_type), expected=FLAT_EXPECTED)
    return table


def _check_unique(path: Path, names: list[str]) -> None:
    """A repeated column name makes every by-name lookup ambiguous: refuse it, naming the name and positions."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        seen.setdefault(name, []).append(i)
    for name, where in seen.items():
        if len(where) > 1:
            positions = ", ".join(map(str, where))
            raise UnreadableDataError(
                f"{path}: column name {name!r} appears {len(where)} times in the header (columns {positions}); "
                f"expected {UNIQUE_EXPECTED}", field="header", value=name, expected=UNIQUE_EXPECTED)


def _read_parquet(path: Path, as_strings: bool) -> pa.Table:
    # a file through ParquetFile: read_table imports pyarrow.dataset (~0.15 s, a sixth of a `data validate`)
    table = pq.read_table(path) if path.is_dir() else pq.ParquetFile(path).read()
    if not as_strings:
        return table
    return pa.table({name: table[name].cast(pa.string()) for name in table.column_names})


def _read_csv(path: Path, delimiter: str, as_strings: bool) -> pa.Table:
    parse = pacsv.ParseOptions(delimiter=delimiter)
    convert = pacsv.ConvertOptions(null_values=NULL_VALUES, strings_can_be_null=True)
    if as_strings:
        with pacsv.open_csv(path, parse_options=parse) as reader:
            names = reader.schema.names
        convert = pacsv.ConvertOptions(
            null_values=NULL_VALUES, strings_can_be_null=True, column_types={n: pa.string() for n in names}
        )
    return pacsv.read_csv(path, parse_options=parse, convert_options=convert)


def _sniff_delimiter(path: Path, head: bytes) -> str:
    try:
        first_line = head.decode("utf-8").splitlines()[0]
    except (UnicodeDecodeError, IndexError) as exc:
        raise _unreadable(path, "not text and not Parquet") from exc
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _unreadable(path: Path, reason: str) -> UnreadableDataError:
    return UnreadableDataError(
        f"{path}: cannot read as a table ({reason}); expected {EXPECTED}",
        field="path",
        value=str(path),
        expected=EXPECTED,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
