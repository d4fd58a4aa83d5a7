"""Registry result types (returned by the service, rendered by CLI/API)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class ModelVersion:
    model: str
    version: int
    flavor: str
    stage: str
    artifact_digest: str
    artifact_size: int
    signature: dict[str, Any] | None
    provenance: dict[str, Any]
    evaluation: dict[str, Any] | None
    reports: dict[str, Any]
    run_id: str | None
    description: str
    created_at: str
    created_by: str
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    stage_history: list[dict[str, Any]] = field(default_factory=list)
    # registry.evidence.view: source (pipeline-run | models-evaluate | client-supplied | none), verified, reason
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ModelSummary:
    name: str
    description: str
    latest_version: int
    aliases: dict[str, int]
    stages: dict[str, int]
    created_at: str
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ModelDetail:
    summary: ModelSummary
    versions: list[ModelVersion]

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary.to_dict(), "versions": [v.to_dict() for v in self.versions]}
