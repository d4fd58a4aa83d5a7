"""Composition root: settings -> concrete database, artifact store and principal."""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from shipyard.clock import Clock
from shipyard.config import STATE_DIR, ProjectConfig, Settings
from shipyard.core.permissions import Principal, Role
from shipyard.errors import InvalidInputError, UnauthenticatedError
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


def required_auth(settings: Settings, project: ProjectConfig) -> bool:
    """The stricter of SHIPYARD_AUTH and the project's ``auth:`` wins: the environment may tighten a project's
    ``auth: optional`` to required, never loosen a project's ``auth: required`` (issue 18)."""
    return "required" in (settings.auth, project.auth)


def resolve_principal(db: Database, settings: Settings, project: ProjectConfig, clock: Clock) -> Principal:
    """A token wins; without one, local mode acts as the OS user with admin rights unless auth is required."""
    if settings.token:
        from shipyard.governance.service import authenticate

        return authenticate(db, settings.token, clock)
    if required_auth(settings, project):
        raise UnauthenticatedError(
            "auth: this workspace requires a token (auth: required); set SHIPYARD_TOKEN",
            field="SHIPYARD_TOKEN", value=None, expected="a token from `shipyard users token create`",
        )
    return Principal(local_actor_name(settings), Role.ADMIN)


EVIDENCE_KEY_FILE = "evidence.key"


def evidence_key(root: Path, settings: Settings) -> bytes:
    """The key that seals gate evidence (registry/evidence.py), chosen in this order:

    1. ``SHIPYARD_EVIDENCE_KEY`` (at least 16 characters): set the same value for the server and every
       process that runs pipelines against the same database;
    2. else, derived from ``SHIPYARD_AUDIT_KEY`` (HMAC-SHA256 with a domain label, so the evidence MAC and
       the audit chain never share a key);
    3. else (the embedded laptop mode), 32 random bytes generated once into ``.shipyard/evidence.key``
       with 0600 permissions, shared by the processes of this workspace folder.
    Never stored in the database: whoever can write the database still cannot seal evidence.
    """
    if settings.evidence_key is not None and settings.evidence_key.get_secret_value():
        key = settings.evidence_key.get_secret_value()
        if len(key) < 16:
            raise InvalidInputError(field="SHIPYARD_EVIDENCE_KEY", value=f"{len(key)} characters",
                                    expected="at least 16 characters (e.g. the output of `openssl rand -hex 32`)")
        return key.encode("utf-8")
    audit_key = settings.audit_key_bytes()
    if audit_key is not None:
        return hmac.new(audit_key, b"shipyard.evidence-key.v1", hashlib.sha256).digest()
    return _key_file(root / STATE_DIR / EVIDENCE_KEY_FILE)


def _key_file(path: Path) -> bytes:
    """Read the workspace's evidence key, creating it atomically (0600) when absent; racing creators agree
    because the first link wins and everyone reads what it linked."""
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        except OSError as exc:
            raise InvalidInputError(f"evidence key: cannot create {path}: {exc.strerror or exc}",
                                    field="SHIPYARD_EVIDENCE_KEY", value=None,
                                    expected=f"a writable {path.parent} or SHIPYARD_EVIDENCE_KEY set") from None
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"evidence key: cannot read {path}: {exc}", field="SHIPYARD_EVIDENCE_KEY",
                                value=str(path), expected="a readable key file or SHIPYARD_EVIDENCE_KEY set") from None
    if len(text) < 32:
        raise InvalidInputError(field=str(path), value=f"{len(text)} characters",
                                expected="the 64 hex digits shipyard generated (delete the file to make a new key)")
    return text.encode("ascii")
