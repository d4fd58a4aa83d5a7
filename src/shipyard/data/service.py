"""Dataset use cases: add (content-addressed, idempotent), list, show, diff, validate, load."""

from __future__ import annotations

import builtins
import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError

from shipyard.clock import Clock, iso
from shipyard.core.hashing import Digest, sha256_bytes
from shipyard.core.limits import parse_int
from shipyard.core.permissions import Permission, Principal, authorize
from shipyard.data.errors import UnreadableDataError
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.governance import audit
from shipyard.store.artifacts.base import ArtifactStore
from shipyard.store.sql import tables as t
from shipyard.store.sql.dialects import insert_ignore
from shipyard.store.sql.engine import Database

D, DV = t.datasets, t.dataset_versions


class DatasetNotFoundError(NotFoundError):
    """No dataset (or dataset version) with that name."""


@dataclass(slots=True)
class DatasetVersion:
    name: str
    version: int
    digest: str
    format: str
    source: str
    rows: int
    columns: int
    size_bytes: int
    schema: dict[str, Any]
    profile: dict[str, Any]
    created_at: str
    created_by: str
    created: bool = False  # False when an identical version already existed

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self, full: bool = True) -> dict[str, Any]:
        d = asdict(self)
        if not full:
            d.pop("profile")
            d.pop("schema")
        return d


@dataclass(slots=True)
class DatasetSummary:
    name: str
    latest_version: int
    rows: int
    columns: int
    digest: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_dataset_ref(ref: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME@VERSION`` (a number or a digest prefix)."""
    if "@" in ref:
        name, version = ref.split("@", 1)
        if not version:
            raise InvalidInputError(field="dataset", value=ref, expected="NAME or NAME@VERSION")
        return name, version
    return ref, None


_HEX_PREFIX = re.compile(r"[0-9a-f]{1,64}")  # a digest prefix; never LIKE wildcards


class DatasetService:
    def __init__(self, db: Database, artifacts: ArtifactStore, actor: Principal, clock: Clock) -> None:
        self.db, self.artifacts, self.actor, self.clock = db, artifacts, actor, clock

    def add(self, path: str | Path, name: str, source: str | None = None) -> DatasetVersion:
        """Add a version from ``path``; ``source`` is what lineage records as its origin (default: the path;
        the API passes the client's own path, not the server's temporary copy)."""
        authorize(self.actor, Permission.DATA_WRITE)
        from shipyard.data.profile import profile_table
        from shipyard.data.readers import read_table
        from shipyard.data.schema import infer_schema
        from shipyard.registry.refs import check_name

        check_name(name, "name")
        path = Path(path)
        table = read_table(path)  # raises UnreadableDataError (exit 2) before anything is stored
        if table.num_rows == 0:  # a header alone: nothing to profile, train on or compare against
            raise UnreadableDataError(
                f"{path}: no data rows (only a header with {table.num_columns} column(s)); "
                "expected at least one row", field="rows", value=0, expected="at least 1 row")
        data = path.read_bytes()
        digest = sha256_bytes(data)
        existing = self._find_digest(name, digest)
        if existing is not None:
            return existing
        schema = infer_schema(table)
        profile = profile_table(table, schema)
        self.artifacts.put_bytes(data)
        fmt = "parquet" if data[:4] == b"PAR1" else "csv"
        now = self.clock.now()
        try:
            with self.db.begin() as conn:
                insert_ignore(conn, D, {"name": name, "latest_version": 0, "created_at": now,
                                        "created_by": self.actor.name}, ["name"])
                row = conn.execute(D.update().where(D.c.name == name).values(latest_version=D.c.latest_version + 1)
                                   .returning(D.c.id, D.c.latest_version)).one()
                conn.execute(DV.insert().values(
                    dataset_id=row.id, version=row.latest_version, digest=digest, format=fmt,
                    source=source or str(path), rows=table.num_rows, n_columns=table.num_columns, size_bytes=len(data),
                    schema=schema.to_dict(), profile=profile.to_dict(), created_at=now, created_by=self.actor.name,
                ))
                audit.append(conn, self.actor.name, "dataset.add", f"dataset:{name}@{row.latest_version}", None,
                             {"digest": digest, "rows": table.num_rows, "columns": table.num_columns}, self.clock)
        except SAIntegrityError:
            # A concurrent add of identical content won the race: return its version.
            found = self._find_digest(name, digest)
            if found is None:
                raise
            return found
        result = self.show(f"{name}@{row.latest_version}")
        result.created = True
        return result

    def _find_digest(self, name: str, digest: str) -> DatasetVersion | None:
        with self.db.read() as conn:
            r = conn.execute(self._q().where(D.c.name == name, DV.c.digest == digest)).first()
            return None if r is None else self._to_version(r)

    @staticmethod
    def _q() -> Any:
        return select(DV, D.c.name.label("dataset_name")).join(D, D.c.id == DV.c.dataset_id)

    def list(self) -> list[DatasetSummary]:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            rows = conn.execute(self._q().where(DV.c.version == D.c.latest_version).order_by(D.c.name)).all()
        return [DatasetSummary(r.dataset_name, int(r.version), int(r.rows), int(r.n_columns), r.digest,
                               iso(r.created_at)) for r in rows]

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            rows = conn.execute(self._q().where(D.c.name == name).order_by(DV.c.version)).all()
        if not rows:
            raise DatasetNotFoundError(field="dataset", value=name,
                                       expected="an existing dataset (see `shipyard data list`)")
        return [self._to_version(r) for r in rows]

    def show(self, ref: str) -> DatasetVersion:
        authorize(self.actor, Permission.READ)
        with self.db.read() as conn:
            return self._to_version(self._row(conn, ref))

    def _row(self, conn: Connection, ref: str) -> Row[Any]:
        name, version = parse_dataset_ref(ref)
        d = conn.execute(select(D).where(D.c.name == name)).first()
        if d is None:
            known = sorted(conn.execute(select(D.c.name)).scalars())
            raise DatasetNotFoundError(field="dataset", value=name,
                                       expected="one of " + (", ".join(known[:20]) or "(no datasets yet)"))
        q = self._q().where(DV.c.dataset_id == d.id)
        if version is None:
            r = conn.execute(q.where(DV.c.version == d.latest_version)).first()
        elif version.isascii() and version.isdigit():
            r = conn.execute(q.where(DV.c.version == parse_int("version", version))).first()
        elif _HEX_PREFIX.fullmatch(version.lower()):
            rows = conn.execute(q.where(DV.c.digest.like(version.lower() + "%"))).all()
            r = rows[0] if len(rows) == 1 else None
        else:
            r = None
        if r is None:
            raise DatasetNotFoundError(field="version", value=version,
                                       expected=f"a version number 1..{d.latest_version} or a unique digest prefix")
        return r

    def _to_version(self, r: Row[Any]) -> DatasetVersion:
        return DatasetVersion(r.dataset_name, int(r.version), r.digest, r.format, r.source, int(r.rows),
                              int(r.n_columns), int(r.size_bytes), r.schema, r.profile, iso(r.created_at),
                              r.created_by)

    def load_table(self, ref: str) -> Any:
        """The version's data as a pyarrow Table (bytes verified by hash)."""
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        dv = self.show(ref)
        data = self.artifacts.get_bytes(Digest(dv.digest))
        if dv.format == "parquet":
            return pq.read_table(io.BytesIO(data))
        return pacsv.read_csv(io.BytesIO(data))

    def diff(self, ref_a: str, ref_b: str, *, methods: dict[str, str] | None = None, alpha: float = 0.05,
             threshold: float | None = None) -> Any:
        """Schema changes and the drift engine's verdict per column, from the two stored profiles."""
        from shipyard.data.diff import diff_versions
        from shipyard.data.profile import DatasetProfile
        from shipyard.data.schema import DatasetSchema

        a, b = self.show(ref_a), self.show(ref_b)
        return diff_versions(DatasetSchema.from_dict(a.schema), DatasetProfile.from_dict(a.profile),
                             DatasetSchema.from_dict(b.schema), DatasetProfile.from_dict(b.profile),
                             methods=methods, alpha=alpha, threshold=threshold)

    def validate(self, ref: str, path: str | Path, ignore: tuple[str, ...] = ()) -> Any:
        """Check a file against the schema of the dataset version ``ref`` (latest when no version)."""
        from shipyard.data.readers import read_table
        from shipyard.data.schema import DatasetSchema
        from shipyard.data.validation import validate_table

        dv = self.show(ref)
        table = read_table(Path(path))
        return validate_table(table, DatasetSchema.from_dict(dv.schema), ignore=ignore)
