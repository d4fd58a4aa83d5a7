"""``shipyard export k8s|kserve ENDPOINT -o DIR``: write the Dockerfile and manifests for one endpoint."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import InvalidInputError
from shipyard.packaging import kserve, kubernetes
from shipyard.packaging.dockerfile import GATEWAY_PORT, current_image, render_dockerfile

TARGETS = ("k8s", "kserve")
NAME = re.compile(r"[a-z]([-a-z0-9]{0,38}[a-z0-9])?")  # DNS-1035 label, short enough for suffixes
FLAVOR_EXTRAS = {"xgboost": "xgboost", "lightgbm": "lightgbm", "onnx": "onnx"}


@dataclass(frozen=True, slots=True)
class ExportResult:
    target: str
    endpoint: str
    name: str
    image: str
    secret: str
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "endpoint": self.endpoint, "name": self.name, "image": self.image,
                "secret": self.secret, "files": list(self.files)}


def _dump(docs: list[dict[str, Any]]) -> str:
    import yaml

    return "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in docs)


def public_config(root: Path) -> str:
    """The workspace's shipyard.yaml without its ``store:`` block (store settings come from the Secret)."""
    import yaml

    doc = yaml.safe_load((root / "shipyard.yaml").read_text(encoding="utf-8")) or {}
    doc.pop("store", None)
    return str(yaml.safe_dump(doc, sort_keys=False))


def _readme(res: ExportResult, target: str) -> str:
    keys = "\n".join(f"  --from-literal={k}=..." + (" \\" if i < len(kubernetes.SECRET_KEYS) - 1 else "")
                     for i, k in enumerate(kubernetes.SECRET_KEYS))
    files = " -f ".join(f for f in res.files if f.endswith(".yaml") and f != "shipyard.yaml")
    return f"""# shipyard export {target} {res.endpoint}

1. Build and push the image: `docker build -t {res.image} . && docker push {res.image}`
2. Create the Secret the manifests read the store from (never put these values in a manifest):

       kubectl create secret generic {res.secret} \\
{keys}

   (SHIPYARD_DB_URL: the PostgreSQL URL; SHIPYARD_ARTIFACTS_URL: s3://bucket/prefix; leave out the keys you
   do not use.)
3. Apply: `kubectl apply -f {files}`

The gateway listens on port {GATEWAY_PORT}: `/v2/health/live`, `/v2/health/ready`, `/v2/models/{res.endpoint}/infer`.
"""


def export(ws: Any, target: str, endpoint: str, out_dir: Path, *, image: str | None = None,
           name: str | None = None) -> ExportResult:
    """Write the Dockerfile, shipyard.yaml and manifests for ``endpoint`` into ``out_dir``."""
    if target not in TARGETS:
        raise InvalidInputError(field="target", value=target, expected=" | ".join(TARGETS))
    ep = ws.endpoints.get(endpoint)
    name = name or ep.name
    if not NAME.fullmatch(name):
        raise InvalidInputError(field="--name", value=name,
                                expected="a Kubernetes name: lowercase letters, digits and '-', starting with a "
                                         "letter, at most 40 characters (pass --name)")
    versions = [int(r["version"]) for r in ep.routing.get("routes", [])] + list(ep.routing.get("shadow") or [])
    flavors = {ws.models.get_version(f"{ep.model}:{v}").flavor for v in versions}
    spec = current_image(("postgres", "s3", *sorted(FLAVOR_EXTRAS[f] for f in flavors if f in FLAVOR_EXTRAS)))
    image = image or f"{name}-shipyard:{spec.shipyard_version}"
    secret = f"{name}-store"
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(field="--output", value=str(out_dir), expected="a folder (this is a file)")
    config = public_config(ws.root)
    files: dict[str, str] = {"Dockerfile": render_dockerfile(spec), "shipyard.yaml": config}
    cm = kubernetes.config_map(name, config)
    if target == "k8s":
        files["gateway.yaml"] = _dump([cm, *kubernetes.gateway(name, image, secret,
                                                               kserve.routing_annotations(ep))])
    else:
        files["kserve.yaml"] = _dump([cm, kserve.serving_runtime(name, image, secret),
                                      kserve.inference_service(ep, image, secret)])
    files["control-plane.yaml"] = _dump(kubernetes.control_plane(name, image, secret))
    res = ExportResult(target, ep.name, name, image, secret, sorted([*files, "README.md"]))
    files["README.md"] = _readme(res, target)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for rel, text in files.items():
            (out_dir / rel).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(field="--output", value=str(out_dir),
                                expected=f"a folder this user can write ({exc.strerror or exc})") from None
    return res
