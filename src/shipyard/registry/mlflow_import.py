"""Import an MLflow model directory (``MLmodel`` + artifacts) as a shipyard version, without running MLflow.

Only data formats are read: scikit-learn saved with skops, XGBoost JSON/UBJSON, LightGBM model text (or a
LightGBM scikit-learn wrapper saved with skops) and ONNX. Pickle-based flavors are refused. The MLmodel file's
``skops_trusted_types`` is never used for trust (MLflow advisory GHSA-w582-9x45-8mpx: whoever wrote the file
chose it); the sklearn flavor computes the artifact's untrusted types itself against shipyard's allow-list and
the workspace's ``trusted_types``. A list that asks for a code-running type is refused outright.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidInputError
from shipyard.flavors.base import ArtifactFormatError, UnsafeArtifactError

if TYPE_CHECKING:
    from shipyard.registry.models import ModelVersion
    from shipyard.registry.service import RegistryService

MAX_MLMODEL_BYTES = 1 << 20
MAX_EXAMPLE_BYTES = 256 << 10
SAFE_SAVE = 'mlflow.sklearn.save_model(model, path, serialization_format="skops")'

# MLflow column types (mlflow.types.DataType) -> shipyard signature types
COLUMN_TYPES = {"double": "float", "float": "float", "integer": "integer", "long": "integer",
                "boolean": "boolean", "string": "string", "datetime": "datetime"}

# Modules (and single callables) whose presence in a trusted-type list means "let this file run code".
DANGEROUS_MODULES = ("builtins", "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy", "shutil",
                     "pickle", "marshal", "socket", "ctypes", "code", "codeop", "pty", "multiprocessing",
                     "types", "io", "pathlib", "webbrowser", "asyncio", "threading")
DANGEROUS_TYPES = ("functools.partial", "operator.attrgetter", "operator.methodcaller", "operator.itemgetter")


@dataclass(frozen=True, slots=True)
class MlflowImport:
    """What an MLflow model directory becomes: a shipyard flavor, its artifact and its metadata."""

    flavor: str
    artifact: Path
    signature: dict[str, Any] | None
    provenance: dict[str, Any] = field(default_factory=dict)


def _bad(fld: str, value: Any, expected: str) -> InvalidInputError:
    return InvalidInputError(field=fld, value=value if isinstance(value, (str, int, float, bool)) or value is None
                             else type(value).__name__, expected=expected)


def _inside(root: Path, rel: Any, fld: str) -> Path:
    """``rel`` (from the MLmodel file) as an existing file inside the model directory."""
    if not isinstance(rel, str) or not rel:
        raise _bad(fld, rel, "a relative path to a file in the model directory")
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        raise _bad(fld, rel, f"an existing file inside {root}")
    return target


def read_mlmodel(path: Path) -> dict[str, Any]:
    """The parsed ``MLmodel`` file of the directory ``path``."""
    import yaml

    root = Path(path)
    mlmodel = root / "MLmodel"
    if not root.is_dir() or not mlmodel.is_file():
        raise _bad("path", str(path), "an MLflow model directory (a folder with an MLmodel file)")
    raw = mlmodel.read_bytes()
    if len(raw) > MAX_MLMODEL_BYTES:
        raise _bad("MLmodel", f"{len(raw)} bytes", f"at most {MAX_MLMODEL_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise _bad("MLmodel", str(mlmodel), f"valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise _bad("MLmodel.flavors", None if not isinstance(doc, dict) else doc.get("flavors"),
                   "a mapping of flavor name -> settings")
    return doc


def _check_listed_trust(listed: Any) -> list[str]:
    """The MLmodel's ``skops_trusted_types``: recorded, never trusted; a code-running type refuses the import."""
    if listed is None:
        return []
    if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
        raise _bad("MLmodel.flavors.sklearn.skops_trusted_types", listed, "a list of dotted type names")
    bad = [t for t in listed if t in DANGEROUS_TYPES or t.split(".")[0] in DANGEROUS_MODULES]
    if bad:
        raise UnsafeArtifactError(
            f"MLmodel: skops_trusted_types lists {', '.join(bad)}, which would let the artifact run code; shipyard "
            "never takes trust from the MLmodel file (GHSA-w582-9x45-8mpx) and refuses a model that asks for it",
            field="MLmodel.skops_trusted_types", value=", ".join(bad),
            expected="only types that hold data (shipyard computes the artifact's untrusted types itself)")
    return list(listed)


def _refuse_pickle(fmt: Any, flavor: str) -> None:
    if fmt in ("pickle", "cloudpickle"):
        raise UnsafeArtifactError(
            f"MLmodel.flavors.{flavor}.serialization_format: {fmt} is refused because loading it runs arbitrary "
            f"code; save the model with skops instead: {SAFE_SAVE}",
            field=f"MLmodel.flavors.{flavor}.serialization_format", value=str(fmt),
            expected=f'"skops" ({SAFE_SAVE})')


def _xgboost_json(src: Path, work: Path) -> Path:
    """XGBoost's JSON model; a UBJSON (or legacy binary) file is converted by XGBoost's own parser."""
    raw = src.read_bytes()
    try:
        json.loads(raw)  # UBJSON starts with "{" too: only a parse tells them apart
        return src
    except ValueError:
        pass
    from shipyard.flavors.base import require_extra

    xgboost = require_extra("xgboost", "xgboost")
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgboost.core.XGBoostError as exc:
        raise ArtifactFormatError(field="MLmodel.flavors.xgboost.data", value=src.name,
                                  expected=f"an XGBoost model file (json or ubj): {str(exc)[:200]}") from None
    out = work / "model.json"
    out.write_bytes(bytes(booster.save_raw("json")))
    return out


def _artifact(root: Path, flavors: dict[str, Any], work: Path) -> tuple[str, str, Path]:
    """(MLflow flavor, shipyard flavor, artifact file) for the first supported flavor of the MLmodel."""
    if "sklearn" in flavors:
        conf = flavors["sklearn"] or {}
        _refuse_pickle(conf.get("serialization_format", "cloudpickle"), "sklearn")
        if conf.get("serialization_format") != "skops":
            raise _bad("MLmodel.flavors.sklearn.serialization_format", conf.get("serialization_format"),
                       f'"skops" ({SAFE_SAVE})')
        return "sklearn", "sklearn", _inside(root, conf.get("pickled_model"), "MLmodel.flavors.sklearn.pickled_model")
    if "xgboost" in flavors:
        conf = flavors["xgboost"] or {}
        data = _inside(root, conf.get("data"), "MLmodel.flavors.xgboost.data")
        return "xgboost", "xgboost", _xgboost_json(data, work)
    if "lightgbm" in flavors:
        conf = flavors["lightgbm"] or {}
        data = _inside(root, conf.get("data"), "MLmodel.flavors.lightgbm.data")
        if str(conf.get("model_class", "")).startswith("lightgbm.sklearn"):  # the wrapper: pickled or skops
            _refuse_pickle(conf.get("serialization_format", "cloudpickle"), "lightgbm")
            return "lightgbm", "sklearn", data
        return "lightgbm", "lightgbm", data
    if "onnx" in flavors:
        conf = flavors["onnx"] or {}
        return "onnx", "onnx", _inside(root, conf.get("data"), "MLmodel.flavors.onnx.data")
    pyfunc = flavors.get("python_function") or {}
    if isinstance(pyfunc, dict) and ("python_model" in pyfunc or "cloudpickle_version" in pyfunc):
        _refuse_pickle("cloudpickle", "python_function")
    raise _bad("MLmodel.flavors", ", ".join(sorted(map(str, flavors))) or None,
               "one of sklearn (skops), xgboost, lightgbm, onnx")


def _columns(spec: Any, fld: str, *, outputs: bool) -> list[dict[str, Any]] | None:
    """MLflow's column list (a JSON string inside the YAML) as shipyard columns; None for tensor specs."""
    if spec is None:
        return None
    try:
        cols = json.loads(spec) if isinstance(spec, str) else spec
    except ValueError:
        raise _bad(fld, "<text>", "MLflow's JSON list of column specs") from None
    if not isinstance(cols, list):
        raise _bad(fld, cols, "a list of column specs")
    if any(isinstance(c, dict) and c.get("type") == "tensor" for c in cols):
        return None  # tensors carry no column names: the artifact's feature names are used instead
    result = []
    for i, col in enumerate(cols):
        if not isinstance(col, dict):
            raise _bad(f"{fld}[{i}]", col, "an object {type, name, required}")
        kind = COLUMN_TYPES.get(str(col.get("type")))
        if kind is None:
            raise _bad(f"{fld}[{i}].type", col.get("type"), " | ".join(COLUMN_TYPES))
        name = col.get("name")
        if name is None and outputs:
            name = "prediction" if len(cols) == 1 else f"output_{i}"
        if not isinstance(name, str) or not name:
            raise _bad(f"{fld}[{i}].name", name, "a column name")
        out: dict[str, Any] = {"name": name, "type": kind}
        if not outputs:
            out["nullable"] = not bool(col.get("required", True))
        result.append(out)
    return result


def convert_signature(sig: Any) -> dict[str, Any] | None:
    """MLflow's ``signature`` block as a shipyard signature, or None when the inputs are tensors."""
    if sig is None:
        return None
    if not isinstance(sig, dict):
        raise _bad("MLmodel.signature", sig, "an object {inputs, outputs}")
    inputs = _columns(sig.get("inputs"), "MLmodel.signature.inputs", outputs=False)
    if inputs is None:
        return None
    outputs = _columns(sig.get("outputs"), "MLmodel.signature.outputs", outputs=True)
    return {"inputs": inputs, "outputs": outputs or [{"name": "prediction"}], "source": "MLflow signature"}


def _input_example(root: Path, info: Any) -> Any:
    if not isinstance(info, dict) or not info.get("artifact_path"):
        return None
    path = _inside(root, info["artifact_path"], "MLmodel.saved_input_example_info.artifact_path")
    if path.stat().st_size > MAX_EXAMPLE_BYTES:
        return None  # kept in MLflow; too large to carry in the registry record
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise _bad("MLmodel.saved_input_example_info.artifact_path", info["artifact_path"], "a JSON file") from None


def model_uri(doc: dict[str, Any], root: Path) -> str:
    """Where MLflow would find this model: its run's artifact, its logged-model id, or the folder itself."""
    if doc.get("run_id") and doc.get("artifact_path"):
        return f"runs:/{doc['run_id']}/{doc['artifact_path']}"
    if doc.get("model_id"):
        return f"models:/{doc['model_id']}"
    return Path(root).resolve().as_uri()


def plan_import(path: Path, work: Path) -> MlflowImport:
    """Read the MLflow model at ``path`` (artifacts converted, if needed, into ``work``)."""
    root = Path(path)
    doc = read_mlmodel(root)
    flavors = doc["flavors"]
    listed: list[str] = []
    for name in ("sklearn", "lightgbm"):
        if isinstance(flavors.get(name), dict):
            listed += _check_listed_trust(flavors[name].get("skops_trusted_types"))
    mlflow_flavor, flavor, artifact = _artifact(root, flavors, work)
    signature = convert_signature(doc.get("signature"))
    example = _input_example(root, doc.get("saved_input_example_info"))
    if signature is not None and example is not None:
        signature["input_example"] = example
    mlflow = {"run_id": doc.get("run_id"), "model_uri": model_uri(doc, root), "flavor": mlflow_flavor,
              "mlflow_version": doc.get("mlflow_version"), "model_uuid": doc.get("model_uuid"),
              "model_id": doc.get("model_id"), "artifact": artifact.name, "created": doc.get("utc_time_created"),
              "skops_trusted_types_ignored": listed, "signature": doc.get("signature")}
    if example is not None:
        mlflow["input_example"] = example
    return MlflowImport(flavor, artifact, signature, {"source": "mlflow", "mlflow": mlflow,
                                                      "source_file": str(root.resolve())})


def import_mlflow(registry: RegistryService, path: Path, name: str, *, description: str = "") -> ModelVersion:
    """Register the MLflow model at ``path`` as the next ``candidate`` version of ``name`` (audited)."""
    from shipyard.registry.provenance import environment

    with tempfile.TemporaryDirectory(prefix="shipyard-mlflow-") as tmp:
        plan = plan_import(Path(path), Path(tmp))
        prov = {**plan.provenance, "environment": environment()}
        return registry.register(name, plan.artifact, plan.flavor, signature=plan.signature, provenance=prov,
                                 description=description, tags={"source": "mlflow"})
