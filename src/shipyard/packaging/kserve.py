"""KServe manifests: a ServingRuntime running ``shipyard serve`` (Open Inference Protocol v2) and an
InferenceService (serving.kserve.io/v1beta1) whose predictor uses it for one endpoint.

KServe's ``protocolVersion`` lives on the predictor's ``model`` spec, which KServe resolves to a runtime; so the
export declares its own ServingRuntime (``protocolVersions: [v2]``) and points the predictor at it by name,
with the shipyard container given in full. The endpoint's traffic split between versions is applied inside
the gateway from the store's routing state (so ``shipyard deploy`` and rollouts keep working without
re-applying the InferenceService); the export records that routing in annotations and does not use KServe's
revision canary (``canaryTrafficPercent``), which splits between revisions of the predictor, not model versions.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard.packaging.dockerfile import GATEWAY_PORT, LIVE, READY, serve_command
from shipyard.packaging.kubernetes import Manifest, container, labels, pod_volumes

MODEL_FORMAT = "shipyard"


def routing_annotations(endpoint: Any) -> dict[str, str]:
    """The endpoint's routing, as read when exporting: model, weighted routes, shadows, generation."""
    r = endpoint.routing
    routes = ",".join(f"{x['version']}={x['weight']}" for x in r.get("routes", []))
    return {"shipyard.io/endpoint": endpoint.name, "shipyard.io/model": endpoint.model,
            "shipyard.io/routes": routes, "shipyard.io/shadow": ",".join(map(str, r.get("shadow") or [])),
            "shipyard.io/generation": str(endpoint.generation),
            "shipyard.io/routing": json.dumps(r, sort_keys=True, separators=(",", ":"))}


def serving_runtime(name: str, image: str, secret: str) -> Manifest:
    c = container("kserve-container", image, serve_command(), GATEWAY_PORT, LIVE, READY, secret)
    c.pop("startupProbe")
    return {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "ServingRuntime",
            "metadata": {"name": f"{name}-shipyard", "labels": labels(name, "runtime")},
            "spec": {"supportedModelFormats": [{"name": MODEL_FORMAT, "version": "1", "autoSelect": False}],
                     "protocolVersions": ["v2"], "multiModel": False,
                     "containers": [c], "volumes": pod_volumes(f"{name}-config")}}


def inference_service(endpoint: Any, image: str, secret: str) -> Manifest:
    """The InferenceService named after the endpoint (clients call ``/v2/models/{endpoint}/infer``)."""
    name = endpoint.name
    c = container("kserve-container", image, serve_command(), GATEWAY_PORT, LIVE, READY, secret)
    c.pop("startupProbe")
    model = {"modelFormat": {"name": MODEL_FORMAT, "version": "1"}, "protocolVersion": "v2",
             "runtime": f"{name}-shipyard", **c}
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": name, "labels": labels(name, "predictor"),
                         "annotations": routing_annotations(endpoint)},
            "spec": {"predictor": {"minReplicas": 2, "maxReplicas": 10, "scaleMetric": "cpu", "scaleTarget": 70,
                                   "automountServiceAccountToken": False,
                                   "securityContext": {"runAsNonRoot": True},
                                   "model": model, "volumes": pod_volumes(f"{name}-config")}}}
