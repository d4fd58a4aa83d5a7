"""Kubernetes manifests for the gateway (``shipyard serve``) and the control plane (``shipyard server``).

Plain dictionaries, dumped as YAML by the caller. Store settings (PostgreSQL URL, S3 bucket, endpoint and
keys, the audit and log-hash keys) come only from a Secret through ``envFrom``; no value is ever inlined.
"""

from __future__ import annotations

from typing import Any

from shipyard.packaging.dockerfile import (
    GATEWAY_PORT,
    LIVE,
    READY,
    SERVER_PORT,
    THREAD_ENV,
    UID,
    WORKDIR,
    serve_command,
    server_command,
)

Manifest = dict[str, Any]
# The keys the Secret is expected to hold (documented in the export's README; none is written by shipyard).
SECRET_KEYS = ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
               "SHIPYARD_S3_ENDPOINT_URL", "SHIPYARD_AUDIT_KEY", "SHIPYARD_LOG_HASH_KEY")


def labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "shipyard", "app.kubernetes.io/managed-by": "shipyard-export"}


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "timeoutSeconds": 2,
            "failureThreshold": failures}


def _security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def container(name: str, image: str, command: list[str], port: int, live: str, ready: str,
              secret: str) -> dict[str, Any]:
    """A shipyard container: env from the Secret, shipyard.yaml from the ConfigMap, writable state on emptyDirs."""
    return {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "command": command[:1], "args": command[1:], "workingDir": WORKDIR,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": k, "value": v} for k, v in THREAD_ENV.items()],
        "envFrom": [{"secretRef": {"name": secret}}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}},
        "startupProbe": _probe(ready, port, 5, 60),
        "livenessProbe": _probe(live, port, 10, 3),
        "readinessProbe": _probe(ready, port, 5, 2),
        "securityContext": _security(),
        "volumeMounts": [{"name": "config", "mountPath": f"{WORKDIR}/shipyard.yaml", "subPath": "shipyard.yaml",
                          "readOnly": True},
                         {"name": "state", "mountPath": f"{WORKDIR}/.shipyard"},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }


def pod_volumes(config: str) -> list[dict[str, Any]]:
    return [{"name": "config", "configMap": {"name": config}},
            {"name": "state", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]


def config_map(name: str, shipyard_yaml: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{name}-config", "labels": labels(name, "config")},
            "data": {"shipyard.yaml": shipyard_yaml}}


def _deployment(name: str, component: str, replicas: int, spec: dict[str, Any]) -> Manifest:
    lab = labels(name, component)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{name}-{component}", "labels": lab},
            "spec": {"replicas": replicas, "selector": {"matchLabels": lab},
                     "template": {"metadata": {"labels": lab}, "spec": spec}}}


def _service(name: str, component: str, port: int) -> Manifest:
    lab = labels(name, component)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-{component}", "labels": lab},
            "spec": {"selector": lab, "ports": [{"name": "http", "port": port, "targetPort": "http",
                                                 "protocol": "TCP"}]}}


def gateway(name: str, image: str, secret: str, annotations: dict[str, str]) -> list[Manifest]:
    """Deployment + Service + HorizontalPodAutoscaler (autoscaling/v2) for ``shipyard serve``."""
    spec = {"securityContext": {"runAsNonRoot": True, "fsGroup": UID},
            "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 30,
            "containers": [container("gateway", image, serve_command(), GATEWAY_PORT, LIVE, READY, secret)],
            "volumes": pod_volumes(f"{name}-config")}
    dep = _deployment(name, "gateway", 2, spec)
    dep["metadata"]["annotations"] = annotations
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": f"{name}-gateway", "labels": labels(name, "gateway")},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-gateway"},
                    "minReplicas": 2, "maxReplicas": 10,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 70}}}]}}
    return [dep, _service(name, "gateway", GATEWAY_PORT), hpa]


def control_plane(name: str, image: str, secret: str) -> list[Manifest]:
    """Deployment + Service for ``shipyard server`` (one replica: its controller loops elect a leader anyway)."""
    spec = {"securityContext": {"runAsNonRoot": True, "fsGroup": UID},
            "automountServiceAccountToken": False,
            "containers": [container("server", image, server_command(), SERVER_PORT, "/api/v1/health",
                                     "/api/v1/health", secret)],
            "volumes": pod_volumes(f"{name}-config")}
    return [_deployment(name, "server", 1, spec), _service(name, "server", SERVER_PORT)]
