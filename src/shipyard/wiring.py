"""Composition root: settings -> concrete database, artifact store and principal."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from shipyard.clock import Clock
from shipyard.config import STATE_DIR, ProjectConfig, Settings
from shipyard.core.permissions import Principal, Role
from shipyard.errors import UnauthenticatedError
from shipyard.store.artifacts import factory as artifact_factory
from shipyard.store.artifacts.base import ArtifactStore
from shipyard.store.sql.engine import Database


def db_url(root: Path, settings: Settings, project: ProjectConfig) -> str:
    return settings.db_url or project.store.db_url or f"sqlite:///{root / STATE_DIR / 'shipyard.db'}"


def artifacts_url(root: Path, settings: Settings, project: ProjectConfig) -> str:
    url = settings.artifacts_url or project.store.artifacts_url or str(root / STATE_DIR / "artifacts")
    if "://" not in url and not os.path.isabs(url):
        url = str(root / url)
    return url


def make_database(root: Path, settings: Settings, project: ProjectConfig) -> Database:
    return Database(db_url(root, settings, project), audit_key=settings.audit_key_bytes())


def make_artifacts(root: Path, settings: Settings, project: ProjectConfig) -> ArtifactStore:
    return artifact_factory.create(artifacts_url(root, settings, project))


def local_actor_name(settings: Settings) -> str:
    if settings.actor:
        return settings.actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def resolve_principal(db: Database, settings: Settings, project: ProjectConfig, clock: Clock) -> Principal:
    """A token wins; without one, local mode acts as the OS user with admin rights unless auth is required."""
    if settings.token:
        from shipyard.governance.service import authenticate

        return authenticate(db, settings.token, clock)
    auth = settings.auth or project.auth
    if auth == "required":
        raise UnauthenticatedError(
            "auth: this workspace requires a token (auth: required); set SHIPYARD_TOKEN",
            field="SHIPYARD_TOKEN", value=None, expected="a token from `shipyard users token create`",
        )
    return Principal(local_actor_name(settings), Role.ADMIN)
