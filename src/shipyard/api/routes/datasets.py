"""Datasets: list, add a version (raw file body), show versions."""

from __future__ import annotations

import codecs
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from shipyard.api.deps import WS, NameParam, needs, principal_workspace
from shipyard.api.errors import ERROR_RESPONSES
from shipyard.core.permissions import Permission
from shipyard.errors import InvalidInputError
from shipyard.workspace import Workspace

router = APIRouter(prefix="/datasets", tags=["datasets"], responses=ERROR_RESPONSES)
VERSION_PATTERN = r"^([1-9][0-9]{0,9}|[0-9a-fA-F]{4,64})$"
FILENAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$"


@router.get("", summary="Datasets with their latest version")
def list_datasets(ws: WS) -> list[dict[str, Any]]:
    return [d.to_dict() for d in ws.datasets.list()]


@router.post(
    "/{name}/versions",
    summary="Add a dataset version from the request body (CSV or Parquet bytes); identical content is a no-op",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
    dependencies=[needs(Permission.DATA_WRITE)],  # before the query parameters are checked (issue 18)
)
async def add_version(
    name: NameParam,
    request: Request,
    ws: Annotated[Workspace, Depends(principal_workspace)],
    filename: Annotated[str, Query(pattern=FILENAME_PATTERN, description="Original file name.")] = "data.csv",
    source: Annotated[str | None, Query(max_length=1000, pattern=r"^[^\x00-\x1f]*$",
                                        description="Where the client read the file (recorded as the "
                                                    "version's source; default: the file name).")] = None,
) -> dict[str, Any]:
    from shipyard.core.permissions import authorize

    authorize(ws.actor, Permission.DATA_WRITE)  # refuse before reading a large body (its size: api/limits.py)
    data = await request.body()
    return await run_in_threadpool(_add, ws, name, filename, data, source)


def _check_text(data: bytes) -> None:
    """A non-Parquet upload must be UTF-8 text (checked in chunks, without copying the body)."""
    if data[:4] == b"PAR1":
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(view), 1 << 20):
            decoder.decode(view[start:start + (1 << 20)])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"body: byte {exc.start} is not UTF-8; expected a UTF-8 CSV/TSV file or a Parquet file",
            field="body", value=f"byte offset {exc.start}", expected="UTF-8 CSV/TSV text or Parquet",
        ) from None


def _add(ws: Workspace, name: str, filename: str, data: bytes, source: str | None) -> dict[str, Any]:
    _check_text(data)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name) or "data.csv"
    with tempfile.TemporaryDirectory(prefix="shipyard-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        dv = ws.datasets.add(path, name, source=source or filename)
    return dv.to_dict()


@router.get("/{name}", summary="The latest version of a dataset")
def show_latest(name: NameParam, ws: WS) -> dict[str, Any]:
    return ws.datasets.show(name).to_dict()


@router.get("/{name}/versions", summary="All versions of a dataset")
def list_versions(name: NameParam, ws: WS) -> list[dict[str, Any]]:
    return [v.to_dict() for v in ws.datasets.versions(name)]


@router.get("/{name}/versions/{version}", summary="One version (a number or a digest prefix)")
def show_version(name: NameParam, version: Annotated[str, PathParam(pattern=VERSION_PATTERN)], ws: WS,
                 ) -> dict[str, Any]:
    return ws.datasets.show(f"{name}@{version}").to_dict()
