"""A monitor's window of the prediction log, and the reference each version is judged against.

A window is the newest N logged rows (``("rows", N)``: read hour folders backwards, 1 h, then 24 h, then
all, until there are N) or the rows logged in the last S seconds (``("seconds", S)``). Shadow copies are
left out (they were never answered); rows a batch job logged for the endpoint (``shipyard batch score
--monitor``) are in, judged like online traffic. The reference of a version is the dataset version its lineage names
as ``train``: its stored profile (drift) and schema (data quality), so the training data is never reloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shipyard.errors import ShipyardError

LOOKBACKS_S = (3600.0, 86400.0, None)


@dataclass(frozen=True, slots=True)
class Window:
    table: Any  # Arrow table of answered (non-shadow) logged rows, oldest first; None when empty
    start: datetime | None
    end: datetime

    @property
    def rows(self) -> int:
        return 0 if self.table is None else int(self.table.num_rows)

    def versions(self) -> list[tuple[int, int]]:
        """(version, rows) by rows, most first."""
        if self.table is None or self.table.num_rows == 0:
            return []
        import numpy as np

        values, counts = np.unique(self.table["version"].to_numpy(), return_counts=True)
        order = np.argsort(-counts, kind="stable")
        return [(int(values[i]), int(counts[i])) for i in order]

    def of(self, version: int) -> Any:
        import pyarrow.compute as pc

        return self.table.filter(pc.equal(self.table["version"], version))


def read_window(artifacts: Any, endpoint: str, kind: str, size: float, now: datetime) -> Window:
    """The window ending ``now`` (see the module docstring)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from shipyard.telemetry.prediction_log import read_log

    def answered(table: Any) -> Any:
        if table is None:
            return None
        if "shadow" in table.column_names:
            table = table.filter(pc.invert(pc.fill_null(table["shadow"], False)))
        return table.filter(pc.less_equal(table["timestamp"], pa.scalar(now, pa.timestamp("us", tz="UTC"))))

    if kind == "seconds":
        start = now - timedelta(seconds=size)
        table = answered(read_log(artifacts, endpoint, start, batch=True))
    else:
        table, n = None, int(size)
        for back in LOOKBACKS_S:
            table = answered(read_log(artifacts, endpoint, None if back is None else now - timedelta(seconds=back),
                                      batch=True))
            if table is not None and table.num_rows >= n:
                break
        if table is not None and table.num_rows > n:
            table = table.slice(table.num_rows - n)
        start = None
    if table is not None and table.num_rows == 0:
        table = None
    if table is not None and start is None:
        start = pc.min(table["timestamp"]).as_py()
    return Window(table, start, now)


@dataclass(frozen=True, slots=True)
class Reference:
    """What a version was trained on: the dataset version, its profile and schema (dicts as stored)."""

    model: str
    version: int
    dataset: str | None
    profile: dict[str, Any] | None
    schema: dict[str, Any] | None
    classes: list[Any] | None  # class labels in probability order (classifiers), else None
    task: str | None


def reference_of(registry: Any, datasets: Any, endpoints: Any, model: str, version: int) -> Reference:
    """The version's training dataset (lineage ``kind: dataset, role: train``); without one, no reference."""
    mv = registry.get_version(f"{model}:{version}")
    train = next((link for link in mv.lineage if link.get("kind") == "dataset"
                  and link.get("role", "train") == "train"), None)
    profile = schema = None
    ref = None if train is None else str(train["ref"])
    if ref is not None:
        try:
            dv = datasets.show(ref)
            profile, schema = dv.profile, dv.schema
        except ShipyardError:
            ref = None
    spec = endpoints.version_spec(model, version)
    classes = spec.labels if spec.labels is not None else spec.classes
    return Reference(model, version, ref, profile, schema, None if classes is None else list(classes), spec.task)


def inputs_of(table: Any, skip: set[str]) -> Any:
    """The logged inputs as a table with the request's column names (hashed and dropped columns left out)."""
    import pyarrow as pa

    names = [c for c in table.column_names if c.startswith("input_") and c[len("input_"):] not in skip]
    return pa.table({c[len("input_"):]: table[c] for c in names})
