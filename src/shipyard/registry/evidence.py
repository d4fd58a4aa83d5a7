"""Gate evidence: what shipyard itself evaluated, sealed with an HMAC a client cannot forge (issue 18).

A version reaches ``validated`` only through gates shipyard evaluated in its own process: a pipeline run
(``source: pipeline-run``) or ``shipyard models evaluate`` (``source: models-evaluate``). That process seals
``{source, model, version, artifact_digest, evaluation_digest, gates, run_id | dataset, at, key_id}`` with
HMAC-SHA256 over ``["shipyard.evidence.v1", payload]`` as canonical JSON, using the server-side evidence key
(``wiring.evidence_key``). Binding the model, version, artifact and evaluation digest means a valid seal can
neither be moved to another version nor kept after the stored evaluation is swapped. An evaluation a client
sent is kept, marked ``client-supplied``: it is not evidence.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.hashing import canonical_json, sha256_json
from shipyard.core.stages import StageTransitionError

DOMAIN = "shipyard.evidence.v1"
PIPELINE_RUN = "pipeline-run"
MODELS_EVALUATE = "models-evaluate"
CLIENT_SUPPLIED = "client-supplied"
NONE = "none"
SOURCES = (PIPELINE_RUN, MODELS_EVALUATE)
HOW = ("`shipyard models evaluate {ref} --dataset DATASET:VERSION` (the workspace's gates, evaluated by shipyard; "
       "API POST /api/v1/models/{name}/versions/{version}/evaluate) or a pipeline run (`shipyard run`)")


@dataclass(frozen=True, slots=True)
class GateRun:
    """Gates shipyard evaluated itself, handed to the registry by the code that ran them (never by a client)."""

    source: str
    gates: list[dict[str, Any]]
    run_id: str | None = None
    dataset: dict[str, Any] | None = None  # {ref, digest} of the dataset version evaluated on
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(bool(g.get("passed")) for g in self.gates)


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:12]


def _mac(key: bytes, payload: dict[str, Any]) -> str:
    return hmac.new(key, canonical_json([DOMAIN, payload]).encode("utf-8"), hashlib.sha256).hexdigest()


def seal(key: bytes, run: GateRun, *, model: str, version: int, artifact_digest: str,
         evaluation: dict[str, Any] | None, at: str) -> dict[str, Any]:
    """The evidence record for ``model:version``: the payload plus its MAC.

    Args:
        evaluation: the evaluation exactly as stored (read back from the database), so its digest matches
            what a verifier reads later.
    """
    if run.source not in SOURCES:
        raise ValueError(f"evidence source {run.source!r} is not one of {SOURCES}")
    payload: dict[str, Any] = {
        "source": run.source, "model": model, "version": int(version), "artifact_digest": artifact_digest,
        "evaluation_digest": str(sha256_json(evaluation)),
        "gates": {"passed": run.passed, "results": [{"gate": str(g.get("gate")), "passed": bool(g.get("passed"))}
                                                    for g in run.gates]},
        "run_id": run.run_id, "dataset": run.dataset, "at": at, "key_id": key_id(key), **run.extra,
    }
    return {**payload, "mac": _mac(key, payload)}


def view(stored: dict[str, Any] | None, *, model: str, version: int, artifact_digest: str,
         evaluation: dict[str, Any] | None, key: bytes | None) -> dict[str, Any]:
    """What approvers see: the stored record plus ``verified`` (does its MAC verify with this server's key and
    does it bind this version, artifact and stored evaluation?) and ``reason``."""
    if not stored:
        reason = ("no evidence: an evaluation sent by a client, or a version registered before evidence existed"
                  if evaluation else "no evidence: no gates were evaluated by shipyard")
        return {"source": NONE, "verified": False, "gates_passed": None, "reason": reason}
    out = {**stored, "verified": False, "gates_passed": (stored.get("gates") or {}).get("passed")}
    source = stored.get("source")
    if source not in SOURCES:
        return {**out, "gates_passed": None,
                "reason": "client-supplied: the evaluation was sent by a client and is not evidence"}
    if key is None:
        return {**out, "reason": "cannot verify: this process has no evidence key"}
    payload = {k: v for k, v in stored.items() if k != "mac"}
    if payload.get("key_id") != key_id(key):
        return {**out, "reason": f"sealed with key {payload.get('key_id')}, this server's evidence key is "
                                 f"{key_id(key)} (set the same SHIPYARD_EVIDENCE_KEY everywhere)"}
    if not hmac.compare_digest(str(stored.get("mac", "")), _mac(key, payload)):
        return {**out, "reason": "MAC does not verify: the evidence was forged or edited"}
    bound = (payload.get("model"), payload.get("version"), payload.get("artifact_digest"))
    if bound != (model, int(version), artifact_digest):
        return {**out, "reason": f"sealed for {bound[0]}:{bound[1]}, not this version (or another artifact)"}
    if payload.get("evaluation_digest") != str(sha256_json(evaluation)):
        return {**out, "reason": "the stored evaluation differs from the one the evidence sealed"}
    return {**out, "verified": True, "reason": "MAC verifies with this server's evidence key"}


def require_passing(ev: dict[str, Any], ref: str, target: str) -> None:
    """Refuse a move to ``validated`` or ``approved`` without verified evidence whose gates passed."""
    if ev.get("verified") and ev.get("gates_passed"):
        return
    name, _, version = ref.partition(":")
    how = HOW.format(ref=ref, name=name, version=version)
    why = ev.get("reason") if not ev.get("verified") else "its gates failed"
    raise StageTransitionError(
        f"stage: {ref} cannot become {target} without evidence that shipyard evaluated its gates and they "
        f"passed ({why}); run {how}",
        field="stage", value=target,
        expected="a version with verified gate evidence (source pipeline-run or models-evaluate)")
