"""RemoteWorkspace: the SDK/CLI against a running ``shipyard server`` over HTTP.

It exposes ``.datasets``, ``.models``, ``.approvals``, ``.endpoints``, ``.users`` and ``.audit`` with the same method
names and result types as the local services, so ``cli/*.py`` runs unchanged; the server's errors
come back as the same ShipyardError kinds. The token is sent as a bearer header and never appears
in an error message.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from shipyard.config import ProjectConfig
from shipyard.core.permissions import Principal, Role
from shipyard.core.stages import Stage
from shipyard.data.service import DatasetService, DatasetSummary, DatasetVersion, parse_dataset_ref
from shipyard.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ShipyardError,
    UnauthenticatedError,
    UnavailableError,
)
from shipyard.governance.audit import AuditEvent, VerifyResult
from shipyard.governance.service import NewToken, TokenInfo, UserInfo
from shipyard.registry.models import ModelDetail, ModelSummary, ModelVersion
from shipyard.registry.refs import parse_ref
from shipyard.rollout.endpoints import Endpoint
from shipyard.rollout.records import RolloutView
from shipyard.rollout.service import DeployResult
from shipyard.telemetry.prediction_view import PredictionLogView

PREFIX = "/api/v1"
_BY_STATUS: dict[int, type[ShipyardError]] = {401: UnauthenticatedError, 403: PermissionDeniedError,
                                               404: NotFoundError, 409: ConflictError, 422: InvalidInputError,
                                               400: InvalidInputError, 503: UnavailableError}


def _error_kinds() -> dict[str, type[ShipyardError]]:
    # Import the contexts' error modules so their subclasses are known by name.
    import shipyard.core.stages  # noqa: F401
    import shipyard.data.errors  # noqa: F401
    import shipyard.flavors.base  # noqa: F401
    import shipyard.governance.errors  # noqa: F401
    import shipyard.registry.approvals  # noqa: F401
    import shipyard.registry.errors  # noqa: F401
    import shipyard.rollout.records  # noqa: F401
    import shipyard.rollout.service  # noqa: F401
    import shipyard.store.artifacts.base  # noqa: F401

    kinds: dict[str, type[ShipyardError]] = {}
    todo: list[type[ShipyardError]] = [ShipyardError]
    while todo:
        cls = todo.pop()
        kinds.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return kinds


def error_from_response(resp: httpx.Response) -> ShipyardError:
    """Rebuild the server's error as the same ShipyardError kind (by name, else by status)."""
    try:
        body = resp.json()["error"]
        kind, message = str(body.get("type", "")), str(body.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        body, kind, message = {}, "", f"server answered HTTP {resp.status_code}"
    cls = _error_kinds().get(kind) or _BY_STATUS.get(resp.status_code)
    if cls is None:
        cls = UnavailableError if resp.status_code >= 500 else ShipyardError
        message = f"server error (HTTP {resp.status_code}): {message}"
    try:
        return cls(message, field=body.get("field"), value=body.get("value"), expected=body.get("expected"))
    except TypeError:  # a subclass with its own constructor
        base = _BY_STATUS.get(resp.status_code, ShipyardError)
        return base(message, field=body.get("field"), value=body.get("value"), expected=body.get("expected"))


class Transport:
    """One httpx client with the bearer token; turns HTTP errors into ShipyardErrors."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 120.0,
                 http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        if self.url.endswith(PREFIX):  # SHIPYARD_SERVER=http://host:8700/api/v1 means the same server
            self.url = self.url[: -len(PREFIX)]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # an unreachable host fails in seconds; an answer may take long (a model upload, a big listing)
        self.http = http or httpx.Client(base_url=self.url, headers=headers,
                                         timeout=httpx.Timeout(timeout, connect=10.0))

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, PREFIX + path, **kw)
        except httpx.HTTPError as exc:
            raise UnavailableError(
                f"server {self.url}: cannot be reached ({type(exc).__name__})",
                field="server", value=self.url, expected="a running `shipyard server`",
            ) from None
        if resp.status_code >= 400:
            raise error_from_response(resp)
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def close(self) -> None:
        self.http.close()


def _q(segment: str | int) -> str:
    return quote(str(segment), safe="")


def _version(d: dict[str, Any]) -> ModelVersion:
    return ModelVersion(**d)


class RemoteDatasets:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def add(self, path: str | Path, name: str, source: str | None = None) -> DatasetVersion:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(field="path", value=str(path), expected="an existing CSV or Parquet file")
        d = self.t.json("POST", f"/datasets/{_q(name)}/versions",
                        params={"filename": path.name, "source": source or str(path)},
                        content=path.read_bytes(), headers={"Content-Type": "application/octet-stream"})
        return DatasetVersion(**d)

    def list(self) -> list[DatasetSummary]:
        return [DatasetSummary(**d) for d in self.t.json("GET", "/datasets")]

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        return [DatasetVersion(**d) for d in self.t.json("GET", f"/datasets/{_q(name)}/versions")]

    def show(self, ref: str) -> DatasetVersion:
        name, version = parse_dataset_ref(ref)
        path = f"/datasets/{_q(name)}" + ("" if version is None else f"/versions/{_q(version)}")
        return DatasetVersion(**self.t.json("GET", path))

    # Pure computations over what show() returns: the same code as the local service.
    diff = DatasetService.diff
    validate = DatasetService.validate


class RemoteModels:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def register(self, name: str, artifact: Path | bytes, flavor: str, *,
                 signature: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None,
                 evaluation: dict[str, Any] | None = None, reports: dict[str, Any] | None = None,
                 lineage: Iterable[dict[str, Any]] = (), stage: Stage = Stage.CANDIDATE,
                 run_id: str | None = None, description: str = "", tags: dict[str, str] | None = None,
                 inspect: bool = True) -> ModelVersion:
        if isinstance(artifact, Path):
            if not artifact.is_file():
                raise InvalidInputError(field="path", value=str(artifact), expected="an existing model file")
            data, filename = artifact.read_bytes(), artifact.name
        else:
            data, filename = artifact, "model.bin"
        body = {"flavor": flavor, "artifact": base64.b64encode(data).decode("ascii"), "filename": filename,
                "signature": signature, "provenance": provenance, "evaluation": evaluation, "reports": reports,
                "lineage": [dict(x) for x in lineage], "stage": Stage(stage).value, "run_id": run_id,
                "description": description, "tags": {k: str(v) for k, v in (tags or {}).items()}}
        return _version(self.t.json("POST", f"/models/{_q(name)}/versions", json=body))

    def list_models(self) -> list[ModelSummary]:
        return [ModelSummary(**d) for d in self.t.json("GET", "/models")]

    def get_model(self, name: str) -> ModelDetail:
        d = self.t.json("GET", f"/models/{_q(name)}")
        versions = [_version(v) for v in d.pop("versions")]
        return ModelDetail(ModelSummary(**d), versions)

    def get_version(self, ref: Any) -> ModelVersion:
        r = parse_ref(ref) if isinstance(ref, str) else ref
        if r.alias is not None:
            return _version(self.t.json("GET", f"/models/{_q(r.name)}/aliases/{_q(r.alias)}"))
        if r.version is not None:
            return _version(self.t.json("GET", f"/models/{_q(r.name)}/versions/{r.version}"))
        versions = self.get_model(r.name).versions
        if not versions:
            from shipyard.registry.errors import VersionNotFoundError

            raise VersionNotFoundError(field="version", value=None, expected="a registered version")
        return versions[-1]

    def resolve(self, ref: str) -> ModelVersion:
        return self.get_version(ref)

    def load_artifact(self, ref: str) -> bytes:
        mv = self.get_version(ref)
        data = self.t.request("GET", f"/models/{_q(mv.model)}/versions/{mv.version}/artifact").content
        from shipyard.core.hashing import sha256_bytes
        from shipyard.errors import IntegrityError

        if sha256_bytes(data) != mv.artifact_digest:
            raise IntegrityError(field="artifact", value=sha256_bytes(data), expected=mv.artifact_digest)
        return data

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        return _version(self.t.json("PUT", f"/models/{_q(name)}/aliases/{_q(alias)}", json={"version": version}))

    def delete_alias(self, name: str, alias: str) -> None:
        self.t.json("DELETE", f"/models/{_q(name)}/aliases/{_q(alias)}")

    def _numbered(self, ref: str) -> tuple[str, int]:
        r = parse_ref(ref)
        if r.version is not None:
            return r.name, r.version
        mv = self.get_version(r)
        return mv.model, mv.version

    def set_stage(self, ref: str, stage: str, reason: str = "", **_: Any) -> ModelVersion:
        name, version = self._numbered(ref)
        return _version(self.t.json("POST", f"/models/{_q(name)}/versions/{version}/stage",
                                    json={"stage": stage, "reason": reason}))

    def set_tag(self, ref: str, key: str, value: str) -> ModelVersion:
        name, version = self._numbered(ref)
        return _version(self.t.json("PUT", f"/models/{_q(name)}/versions/{version}/tags/{_q(key)}",
                                    json={"value": value}))


class RemoteApprovals:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def approve(self, ref: str, reason: str = "") -> ModelVersion:
        return _version(self.t.json("POST", "/approvals", json={"ref": ref, "decision": "approve",
                                                                "reason": reason}))

    def reject(self, ref: str, reason: str) -> ModelVersion:
        return _version(self.t.json("POST", "/approvals", json={"ref": ref, "decision": "reject",
                                                                "reason": reason}))


class RemoteEndpoints:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def list(self) -> builtins.list[Endpoint]:
        return [Endpoint(**d) for d in self.t.json("GET", "/endpoints")]

    def get(self, name: str) -> Endpoint:
        return Endpoint(**self.t.json("GET", f"/endpoints/{_q(name)}"))

    def deploy(self, ref: str, endpoint: str | None = None, weight: int | None = None) -> Endpoint:
        return _endpoint(self.t.json("POST", "/endpoints", json={"ref": ref, "endpoint": endpoint, "weight": weight}))

    def prediction_log(self, name: str, since: str | None = None, limit: int = 10) -> PredictionLogView:
        params: dict[str, Any] = {"limit": limit, **({"since": since} if since else {})}
        return PredictionLogView(**self.t.json("GET", f"/endpoints/{_q(name)}/log", params=params))

    def set_routing(self, name: str, table: Any) -> Endpoint:
        raw = table.to_dict() if hasattr(table, "to_dict") else dict(table)
        return Endpoint(**self.t.json("PUT", f"/endpoints/{_q(name)}/routing", json=raw))


def _endpoint(d: dict[str, Any]) -> Endpoint:
    return Endpoint(**{k: d[k] for k in Endpoint.__dataclass_fields__})


class RemoteRollouts:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def deploy(self, ref: str, endpoint: str | None = None, weight: int | None = None,
               strategy: str | None = None) -> DeployResult:
        d = self.t.json("POST", "/endpoints", json={"ref": ref, "endpoint": endpoint, "weight": weight,
                                                    "strategy": strategy})
        return DeployResult(_endpoint(d), None if d.get("rollout") is None else RolloutView(**d["rollout"]),
                            d.get("note", ""))

    def status(self, endpoint: str, limit: int = 20) -> RolloutView:
        return RolloutView(**self.t.json("GET", f"/endpoints/{_q(endpoint)}/rollout", params={"analyses": limit}))

    def list(self, limit: int = 100) -> builtins.list[RolloutView]:
        return [RolloutView(**d) for d in self.t.json("GET", "/rollouts", params={"limit": limit})]

    def command(self, endpoint: str, action: str, reason: str = "", full: bool = False) -> RolloutView:
        return RolloutView(**self.t.json("POST", f"/endpoints/{_q(endpoint)}/rollout/{_q(action)}",
                                         json={"reason": reason, "full": full}))


class RemoteUsers:
    def __init__(self, t: Transport) -> None:
        self.t = t

    def add(self, name: str, role: str) -> UserInfo:
        return UserInfo(**self.t.json("POST", "/users", json={"name": name, "role": role}))

    def set_role(self, name: str, role: str) -> UserInfo:
        return UserInfo(**self.t.json("PUT", f"/users/{_q(name)}/role", json={"role": role}))

    def set_disabled(self, name: str, disabled: bool) -> UserInfo:
        return UserInfo(**self.t.json("PUT", f"/users/{_q(name)}/disabled", json={"disabled": disabled}))

    def list(self) -> list[UserInfo]:
        return [UserInfo(**d) for d in self.t.json("GET", "/users")]

    def create_token(self, user: str, *, name: str = "", expires_in: timedelta | None = None) -> NewToken:
        body = {"name": name, "expires_in_seconds": expires_in.total_seconds() if expires_in else None}
        d = self.t.json("POST", f"/users/{_q(user)}/tokens", json=body)
        token = d.pop("token")
        return NewToken(token, TokenInfo(**d))

    def revoke_token(self, token_id: int) -> TokenInfo:
        return TokenInfo(**self.t.json("DELETE", f"/tokens/{int(token_id)}"))

    def list_tokens(self, user: str | None = None) -> builtins.list[TokenInfo]:
        params = {"user": user} if user else {}
        return [TokenInfo(**d) for d in self.t.json("GET", "/tokens", params=params)]


class RemoteAudit:
    def __init__(self, t: Transport) -> None:
        self.t = t

    @staticmethod
    def _params(**kw: Any) -> dict[str, Any]:
        return {k: v for k, v in kw.items() if v not in (None, "")}

    def log(self, *, actor: str | None = None, action: str | None = None, subject: str | None = None,
            since: str | None = None, limit: int | None = None) -> list[AuditEvent]:
        params = self._params(actor=actor, action=action, subject=subject, since=since, limit=limit)
        return [AuditEvent(**d) for d in self.t.json("GET", "/audit/events", params=params)]

    def export_jsonl(self, *, actor: str | None = None, action: str | None = None, subject: str | None = None,
                     since: str | None = None) -> Iterator[str]:
        params = self._params(actor=actor, action=action, subject=subject, since=since)
        text = self.t.request("GET", "/audit/export", params=params).text
        yield from text.splitlines(keepends=True)

    def verify(self, require_keyed: bool = False) -> VerifyResult:
        params = {"require_keyed": "true"} if require_keyed else None
        return VerifyResult(**self.t.json("GET", "/audit/verify", params=params))


class RemoteWorkspace:
    """The SDK's remote twin of ``Workspace``: the same service attributes, served over HTTP."""

    def __init__(self, url: str, token: str | None, *, root: str | Path = ".",
                 http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.root = Path(root).resolve()
        self.transport = Transport(self.url, token, http=http)
        self.datasets = RemoteDatasets(self.transport)
        self.models = RemoteModels(self.transport)
        self.approvals = RemoteApprovals(self.transport)
        self.endpoints = RemoteEndpoints(self.transport)
        self.rollouts = RemoteRollouts(self.transport)
        self.users = RemoteUsers(self.transport)
        self.audit = RemoteAudit(self.transport)

    @cached_property
    def config(self) -> ProjectConfig:
        """The local shipyard.yaml (model cards read the target from it), or the defaults."""
        from shipyard.config import load_project

        return load_project(self.root)

    @cached_property
    def actor(self) -> Principal:
        d = self.transport.json("GET", "/whoami")
        return Principal(d["name"], Role(d["role"]))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> RemoteWorkspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
