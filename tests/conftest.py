"""Shared fixtures: a throwaway PostgreSQL database per session, moto's S3 server, workspaces.

Service-backed tests skip with a reason on a laptop without the service; under CI=true a missing
service is a failure, never a skip.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.builders import free_port

PG_ADMIN_URL = os.environ.get("SHIPYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CREDIT_CSV = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "credit_data.csv"
if not CREDIT_CSV.exists():  # the example ships its own copy
    CREDIT_CSV = Path(__file__).resolve().parents[1] / "src/shipyard/examples/credit/data/credit.csv"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", action="store_true", default=False,
                     help="browser tests save a PNG of each page under bench/results/screenshots/")


def need_service(reason: str) -> None:
    """Skip on a laptop, fail under CI=true."""
    if IN_CI:
        pytest.fail(f"required service unavailable under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


def need_module(module: str, extra: str) -> Any:
    """Import ``module`` (an optional extra's library): skip without it on a laptop, fail under CI=true."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        need_service(f"{module} not installed (pip install 'shipyard[{extra}]')")


@pytest.fixture(scope="session")
def credit_csv() -> Path:
    return CREDIT_CSV


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for the whole session, dropped at the end."""
    try:
        import psycopg
    except ImportError:
        need_service("psycopg not installed (pip install 'shipyard[postgres]')")
    name = f"shipyard_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        need_service(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A fresh schema inside the session database for one test (cheap isolation)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{pg_database}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Parametrised over a temp SQLite file and a throwaway PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port, with a bucket named 'shipyard'."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        need_service("moto[server] not installed")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    old = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION",
                                          "SHIPYARD_S3_ENDPOINT_URL")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1", SHIPYARD_S3_ENDPOINT_URL=endpoint)
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="shipyard")
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def workspace(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """A workspace on each SQL backend, local artifact folder."""
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws", settings=Settings(db_url=db_url, actor="alice"))
    yield ws
    ws.close()


@pytest.fixture
def example_ws(workspace):  # type: ignore[no-untyped-def]
    """``example_ws(name)``: the workspace with a bundled example written into it, reopened to read its config."""
    from shipyard.pipeline.examples import write_example
    from shipyard.workspace import Workspace

    opened = []

    def make(name: str) -> Workspace:
        write_example(workspace.root, name)
        ws = Workspace.open(workspace.root, settings=workspace.settings)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


@pytest.fixture
def sandbox_drop() -> Iterator[Path]:
    """A fresh folder under /dev/shm: the one shared place a confined model process may write (its own folder
    is private and removed with it), so a test's spy model leaves what it saw here; removed afterwards."""
    import shutil
    import uuid

    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    folder = base / f"shipyard-test-{uuid.uuid4().hex}"
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
