"""The drift engine's I/O side: read each side (a CSV/Parquet file, profiled now, or a stored dataset version).

The comparison itself is ``data.drift.compare_profiles`` (one rule for ``data diff``, the pipeline's
validate step and ``shipyard monitor drift``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.data.profile import DatasetProfile
from shipyard.errors import InvalidInputError

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.data.service import DatasetService

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


@dataclass
class Side:
    """One side of a comparison: a label, its profile and (for files or when loaded) its table."""

    label: str
    profile: DatasetProfile
    table: pa.Table | None = None
    schema: dict[str, Any] | None = None


def is_file_spec(spec: str) -> bool:
    return Path(spec).suffix.lower() in DATA_SUFFIXES or Path(spec).exists()


def load_side(spec: str, datasets: DatasetService | None, *, field_name: str, need_table: bool = False) -> Side:
    """Read ``spec``: a CSV/Parquet file (profiled now) or a dataset version ``NAME@VERSION`` (its stored profile).

    Raises:
        InvalidInputError: a dataset reference without a workspace to look it up in.
        UnreadableDataError / DatasetNotFoundError: the file or version does not exist.
    """
    from shipyard.data.profile import profile_table
    from shipyard.data.readers import read_table
    from shipyard.data.schema import infer_schema

    if is_file_spec(spec):
        table = read_table(Path(spec))
        if table.num_rows == 0:
            raise InvalidInputError(field=field_name, value=spec, expected="a file with at least one data row")
        schema = infer_schema(table)
        return Side(label=spec, profile=profile_table(table, schema), table=table, schema=schema.to_dict())
    if datasets is None:
        raise InvalidInputError(field=field_name, value=spec,
                                expected="a CSV/Parquet file, or NAME@VERSION inside a workspace")
    dv = datasets.show(spec)
    table = datasets.load_table(dv.ref) if need_table else None
    return Side(label=dv.ref, profile=DatasetProfile.from_dict(dv.profile), table=table, schema=dv.schema)
