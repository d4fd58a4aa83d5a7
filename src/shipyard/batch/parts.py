"""Input parts (a file or a folder of Parquet/CSV, local or any fsspec URL such as ``s3://``), their content
hashes, bounded-memory chunk readers, and the output folder's manifest of finished parts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from shipyard.errors import ConflictError, InvalidInputError

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
MANIFEST = "_manifest.json"
QUARANTINE = "_quarantine"
MONITOR = "_monitor"  # sampled rows for the prediction log, until published
CHUNK_ROWS = 262_144  # HistGradientBoosting opens an OpenMP region per tree per call: 65,536-row chunks cost 1.9x
# the CPU of whole 250k-row parts on a loaded 2-core host; 256Ki rows cost ~1.1x and ~60 MB more than 64Ki


@dataclass(frozen=True, slots=True)
class Part:
    """One input file: its URL, format and the name of its output file (``<stem>.parquet``)."""

    uri: str
    format: str
    out_name: str


def _fs(uri: str) -> tuple[Any, str]:
    import fsspec

    options: dict[str, Any] = {}
    endpoint = os.environ.get("SHIPYARD_S3_ENDPOINT_URL")  # MinIO & co., as for the artifact store
    if uri.startswith(("s3://", "s3a://")) and endpoint:
        options["endpoint_url"] = endpoint
    fs, path = fsspec.core.url_to_fs(uri, **options)
    return fs, path


def list_parts(uri: str) -> list[Part]:
    """The parts under ``uri``, sorted by name (a file is one part).

    Raises:
        InvalidInputError: ``--input`` does not exist, holds no Parquet/CSV file, or two parts share a stem.
    """
    expected = "a Parquet or CSV file, or a folder of them"
    try:
        fs, path = _fs(uri)
        exists = fs.exists(path)
    except (ValueError, ImportError, OSError) as exc:
        raise InvalidInputError(field="--input", value=uri, expected=f"{expected} ({exc})") from None
    if not exists:
        raise InvalidInputError(f"--input: {uri} does not exist", field="--input", value=uri, expected=expected)
    proto = uri.split("://", 1)[0] + "://" if "://" in uri else ""
    if fs.isdir(path):
        files = sorted(p for p in fs.find(path) if PurePosixPath(p).suffix.lower() in FORMATS
                       and not PurePosixPath(p).name.startswith(("_", ".")))
    else:
        if PurePosixPath(path).suffix.lower() not in FORMATS:
            raise InvalidInputError(field="--input", value=uri, expected=f"{expected} (.parquet, .pq or .csv)")
        files = [path]
    if not files:
        raise InvalidInputError(f"--input: {uri} holds no .parquet, .pq or .csv file", field="--input",
                                value=uri, expected=expected)
    parts, seen = [], set()
    for f in files:
        p = PurePosixPath(f)
        out = f"{p.stem}.parquet"
        if out in seen:
            raise InvalidInputError(f"--input: two parts would both write {out} ({f})", field="--input",
                                    value=f, expected="input files with distinct names (without extension)")
        seen.add(out)
        parts.append(Part(proto + f if proto and not f.startswith(proto) else f, FORMATS[p.suffix.lower()], out))
    return parts


def content_hash(part: Part) -> str:
    """sha256 of the part's bytes, read in 8 MiB blocks into one reused buffer (a fresh 8 MiB ``bytes`` per
    read is a fresh mapping to fault in and zero: the hashing of a 5M-row input did 100+ of them). The GIL
    is released while reading and hashing each block, so a low-priority hashing thread rarely holds it.
    Not ``mmap``: a file truncated while mapped kills the process with SIGBUS."""
    fs, path = _fs(part.uri)
    h = hashlib.sha256()
    buf = bytearray(8 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) if _is_local(fs) else fs.open(path, "rb") as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _is_local(fs: Any) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def read_chunks(part: Part, rows: int = CHUNK_ROWS) -> Iterator[Any]:
    """The part in chunks of at most ``rows`` rows: Arrow record batches (Parquet: converted only if needed)
    or DataFrames (CSV). Memory stays bounded by one Parquet row group and one chunk, not by the file.

    Raises:
        InvalidInputError: the file is not readable as its format (damaged, or another format renamed).
    """
    import pyarrow as pa

    fs, path = _fs(part.uri)
    local = _is_local(fs)
    with fs.open(path, "rb") if not local or part.format != "parquet" else contextlib.nullcontext(path) as f:
        try:
            if part.format == "parquet":
                import pyarrow.parquet as pq

                # a local file through Arrow's own reader, not a Python file object (~30 % faster)
                yield from pq.ParquetFile(f).iter_batches(batch_size=rows)
            else:
                yield from pd.read_csv(f, chunksize=rows)
        except (pa.ArrowException, ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError is a ValueError
            raise InvalidInputError(f"--input: cannot read {part.uri} as {part.format}: {exc}", field="--input",
                                    value=part.uri, expected=f"a readable {part.format} file") from None


def read_manifest(out_dir: Path) -> dict[str, Any]:
    path = out_dir / MANIFEST
    if not path.exists():
        return {"parts": {}}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        raise InvalidInputError(field="--output", value=str(path),
                                expected="a readable manifest written by shipyard batch score") from None
    if not isinstance(data, dict) or not isinstance(data.get("parts"), dict):
        raise InvalidInputError(field="--output", value=str(path), expected="a shipyard batch manifest")
    return data


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, rename: readers see the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    write_atomic(out_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """One job at a time per output folder (``flock`` on ``_lock``; released by the kernel if the job dies).

    Raises:
        ConflictError: another job is writing this folder.
    """
    import fcntl

    with open(out_dir / "_lock", "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(f"--output: another shipyard batch score job is writing {out_dir}",
                                field="--output", value=str(out_dir),
                                expected="a folder no running job writes (wait for it, or choose another)") from None
        yield


def clean_temporaries(out_dir: Path) -> None:
    """Remove what a killed run left half-written (``.NAME.tmp-PID``); finished files are never touched."""
    for folder in (out_dir, out_dir / QUARANTINE, out_dir / MONITOR):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.name.startswith(".") and ".tmp-" in p.name:
                    p.unlink(missing_ok=True)
