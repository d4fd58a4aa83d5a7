"""`shipyard export k8s|kserve`: the manifests pass kubernetes-validate (strict, Kubernetes 1.30 and the
newest it knows) and the vendored KServe schemas; the Dockerfile's CMD is the command line that starts a real
gateway here, which then answers /v2/health/ready."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from tests.builders import approve, free_port, make_skops_model

kv = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
K8S_VERSIONS = ("1.30.0", kv.utils.latest_version() + ".0")


@pytest.fixture(scope="module")
def ws(tmp_path_factory):  # type: ignore[no-untyped-def]
    from shipyard.config import Settings
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("export")
    w = Workspace.init(root / "ws", settings=Settings(actor="alice"))
    cfg = w.root / "shipyard.yaml"
    cfg.write_text(cfg.read_text() + "store:\n  db_url: postgresql://admin:hunter2@db/shipyard\n")
    make_skops_model(root / "m.skops")
    for _ in range(2):
        w.models.register("credit", root / "m.skops", "sklearn")
    approve(w, "credit:1")
    approve(w, "credit:2")
    w.endpoints.deploy("credit:1")
    w.endpoints.deploy("credit:2", weight=20)
    yield w
    w.close()


def _export(ws, target: str, out: Path):  # type: ignore[no-untyped-def]
    from shipyard.packaging.service import export

    return export(ws, target, "credit", out)


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kserve_validator(kind: str):  # type: ignore[no-untyped-def]
    name = {"InferenceService": "kserve-inferenceservice-v1beta1.json",
            "ServingRuntime": "kserve-servingruntime-v1alpha1.json"}[kind]
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft7Validator(schema)


def _validate(doc: dict) -> None:
    if doc["apiVersion"].startswith("serving.kserve.io/"):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in _kserve_validator(doc["kind"]).iter_errors(doc)]
        assert not errors, errors
        return
    for version in K8S_VERSIONS:
        kv.validate(doc, version, strict=True)


@pytest.mark.parametrize("target", ["k8s", "kserve"])
def test_exported_manifests_are_valid(ws, tmp_path: Path, target: str) -> None:
    res = _export(ws, target, tmp_path)
    docs = [d for f in res.files if f.endswith(".yaml") and f != "shipyard.yaml" for d in _docs(tmp_path / f)]
    kinds = sorted(d["kind"] for d in docs)
    if target == "k8s":
        assert kinds == ["ConfigMap", "Deployment", "Deployment", "HorizontalPodAutoscaler", "Service", "Service"]
    else:
        assert kinds == ["ConfigMap", "Deployment", "InferenceService", "Service", "ServingRuntime"]
    for doc in docs:
        _validate(doc)
    text = "\n".join((tmp_path / f).read_text() for f in res.files)
    assert "hunter2" not in text and "postgresql://" not in text  # the store comes from the Secret only
    for doc in docs:
        if doc["kind"] in ("Deployment", "InferenceService"):
            spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Deployment" else doc["spec"]["predictor"]
            c = spec["containers"][0] if "containers" in spec else spec["model"]
            assert c["envFrom"] == [{"secretRef": {"name": "credit-store"}}]
            assert {"name": "OMP_NUM_THREADS", "value": "1"} in c["env"]
            assert c["resources"]["limits"] and c["securityContext"]["runAsNonRoot"] is True
            assert c["livenessProbe"]["httpGet"]["path"] in ("/v2/health/live", "/api/v1/health")
            assert c["readinessProbe"]["httpGet"]["path"] in ("/v2/health/ready", "/api/v1/health")


def test_kserve_inference_service_carries_protocol_and_routing(ws, tmp_path: Path) -> None:
    _export(ws, "kserve", tmp_path)
    isvc = next(d for d in _docs(tmp_path / "kserve.yaml") if d["kind"] == "InferenceService")
    model = isvc["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2" and model["runtime"] == "credit-shipyard"
    assert model["args"][0] == "serve"
    ann = isvc["metadata"]["annotations"]
    assert ann["shipyard.io/routes"] == "1=80,2=20" and json.loads(ann["shipyard.io/routing"])["routes"] == [
        {"version": 1, "weight": 80}, {"version": 2, "weight": 20}]
    # the vendored schema is strict: a misspelt field would be caught, not silently pruned by the API server
    bad = json.loads(json.dumps(isvc))
    bad["spec"]["predictor"]["model"]["protocolversion"] = "v2"
    assert list(_kserve_validator("InferenceService").iter_errors(bad))


def test_dockerfile_is_pinned_non_root_with_healthcheck(ws, tmp_path: Path) -> None:
    import platform

    import shipyard

    _export(ws, "k8s", tmp_path)
    text = (tmp_path / "Dockerfile").read_text()
    assert f"FROM python:{platform.python_version()}-slim" in text
    assert f"shipyard[postgres,s3]=={shipyard.__version__}" in text
    user = [ln for ln in text.splitlines() if ln.startswith("USER ")]
    assert user and not user[-1].split()[1].startswith(("0", "root"))
    assert "HEALTHCHECK" in text and "/v2/health/live" in text
    assert "hunter2" not in (tmp_path / "shipyard.yaml").read_text()


def _store_env(ws) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    return env | {"SHIPYARD_ACTOR": "alice", "SHIPYARD_DB_URL": f"sqlite:///{ws.root / '.shipyard' / 'shipyard.db'}",
                  "SHIPYARD_ARTIFACTS_URL": str(ws.root / ".shipyard" / "artifacts")}


def _cmd(dockerfile: Path) -> list[str]:
    line = next(ln for ln in dockerfile.read_text().splitlines() if ln.startswith("CMD "))
    return list(json.loads(line[4:]))


def test_dockerfile_cmd_starts_a_real_gateway(ws, tmp_path: Path) -> None:
    _export(ws, "k8s", tmp_path)
    cmd = _cmd(tmp_path / "Dockerfile")
    # The command this test runs, with the container's listen address swapped for a free loopback port:
    port = free_port()
    ours = ["shipyard", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "info"]
    swapped = [{"0.0.0.0": "127.0.0.1", "8080": str(port)}.get(a, a) for a in cmd]
    assert swapped == ours, shlex.join(cmd)
    # The container: its WORKDIR holds only the exported shipyard.yaml; the store comes from the environment,
    # as the Secret gives it there.
    workdir = tmp_path / "workspace"
    workdir.mkdir()
    shutil.copy(tmp_path / "shipyard.yaml", workdir / "shipyard.yaml")
    exe = shutil.which("shipyard", path=str(Path(sys.executable).parent)) or "shipyard"
    proc = subprocess.Popen([exe, *swapped[1:]], cwd=workdir, env=_store_env(ws), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, ready = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        assert ready is not None and ready.status_code == 200, proc.stderr.read() if proc.poll() is not None else ""
        assert httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=2).status_code == 200
        r = httpx.get(f"http://127.0.0.1:{port}/v2/models/credit/ready", timeout=5)
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cli_export_errors_exit_2(ws, tmp_path: Path) -> None:
    env = _store_env(ws)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shipyard.cli.main", "-C", str(ws.root), *args], env=env,
                              capture_output=True, text=True, timeout=120)

    ok = cli("export", "kserve", "credit", "-o", str(tmp_path / "out"), "--json")
    assert ok.returncode == 0, ok.stderr
    assert "kserve.yaml" in json.loads(ok.stdout)["files"]
    bad = cli("export", "helm", "credit", "-o", str(tmp_path / "x"))
    assert bad.returncode == 2 and "k8s | kserve" in bad.stderr
    missing = cli("export", "k8s", "nope", "-o", str(tmp_path / "y"))
    assert missing.returncode == 2 and "nope" in missing.stderr
    bad_name = cli("export", "k8s", "credit", "-o", str(tmp_path / "z"), "--name", "Credit_Risk")
    assert bad_name.returncode == 2 and "--name" in bad_name.stderr
