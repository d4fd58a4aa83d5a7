"""MLmodel reading without MLflow: signature conversion, refusals and path checks on hand-written folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shipyard.errors import InvalidInputError
from shipyard.flavors.base import UnsafeArtifactError
from shipyard.registry.mlflow_import import convert_signature, model_uri, plan_import


def _cols(*cols: dict) -> str:
    return json.dumps(list(cols))


def test_column_types_map_and_required_becomes_not_nullable() -> None:
    sig = convert_signature({
        "inputs": _cols({"type": "double", "name": "a", "required": True}, {"type": "long", "name": "b"},
                        {"type": "string", "name": "c", "required": False}, {"type": "boolean", "name": "d"},
                        {"type": "datetime", "name": "e"}, {"type": "float", "name": "f"},
                        {"type": "integer", "name": "g"}),
        "outputs": _cols({"type": "long", "required": True})})
    assert sig is not None
    assert [(c["name"], c["type"], c["nullable"]) for c in sig["inputs"]] == [
        ("a", "float", False), ("b", "integer", False), ("c", "string", True), ("d", "boolean", False),
        ("e", "datetime", False), ("f", "float", False), ("g", "integer", False)]
    assert sig["outputs"] == [{"name": "prediction", "type": "integer"}]


def test_tensor_inputs_leave_the_signature_to_the_artifact() -> None:
    spec = _cols({"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}})
    assert convert_signature({"inputs": spec, "outputs": spec}) is None


@pytest.mark.parametrize(("sig", "field"), [
    ({"inputs": _cols({"type": "binary", "name": "x"})}, "MLmodel.signature.inputs[0].type"),
    ({"inputs": _cols({"type": "double"})}, "MLmodel.signature.inputs[0].name"),
    ({"inputs": "[not json"}, "MLmodel.signature.inputs"),
    ({"inputs": _cols({"type": "double", "name": "x"}), "outputs": _cols({"type": "map"})},
     "MLmodel.signature.outputs[0].type"),
])
def test_bad_signatures_name_the_field(sig: dict, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        convert_signature(sig)
    assert err.value.field == field


def _folder(tmp_path: Path, flavors: dict, files: dict[str, bytes] | None = None, **extra: object) -> Path:
    root = tmp_path / "model"
    root.mkdir()
    (root / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors, **extra}))
    for name, data in (files or {}).items():
        (root / name).write_bytes(data)
    return root


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_pickle_formats_are_refused_naming_skops(tmp_path: Path, fmt: str) -> None:
    root = _folder(tmp_path, {"sklearn": {"pickled_model": "model.pkl", "serialization_format": fmt}},
                   {"model.pkl": b"\x80\x04."})
    with pytest.raises(UnsafeArtifactError, match='serialization_format="skops"'):
        plan_import(root, tmp_path)


def test_pickled_lightgbm_wrapper_and_pyfunc_python_model_are_refused(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"lightgbm": {"data": "model.pkl", "model_class": "lightgbm.sklearn.LGBMClassifier",
                                           "serialization_format": "cloudpickle"}}, {"model.pkl": b"\x80\x04."})
    with pytest.raises(UnsafeArtifactError):
        plan_import(root, tmp_path)
    other = tmp_path / "b"
    other.mkdir()
    root2 = _folder(other, {"python_function": {"python_model": "python_model.pkl", "cloudpickle_version": "3"}})
    with pytest.raises(UnsafeArtifactError, match="cloudpickle"):
        plan_import(root2, tmp_path)


@pytest.mark.parametrize("listed", ["builtins.eval", "os.system", "subprocess.Popen", "functools.partial"])
def test_mlmodel_asking_for_code_running_trust_is_refused(tmp_path: Path, listed: str) -> None:
    root = _folder(tmp_path, {"sklearn": {"pickled_model": "model.skops", "serialization_format": "skops",
                                          "skops_trusted_types": ["numpy.dtype", listed]}}, {"model.skops": b"PK"})
    with pytest.raises(UnsafeArtifactError, match="GHSA-w582-9x45-8mpx") as err:
        plan_import(root, tmp_path)
    assert listed in str(err.value)


@pytest.mark.parametrize("rel", ["../outside.skops", "/etc/passwd", "missing.skops"])
def test_artifact_paths_stay_inside_the_folder(tmp_path: Path, rel: str) -> None:
    (tmp_path / "outside.skops").write_bytes(b"PK")
    root = _folder(tmp_path, {"sklearn": {"pickled_model": rel, "serialization_format": "skops"}})
    with pytest.raises(InvalidInputError) as err:
        plan_import(root, tmp_path)
    assert err.value.field == "MLmodel.flavors.sklearn.pickled_model"


def test_not_an_mlflow_folder_and_unsupported_flavors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="MLmodel"):
        plan_import(tmp_path, tmp_path)
    root = _folder(tmp_path, {"pytorch": {"model_data": "data"}})
    with pytest.raises(InvalidInputError, match="sklearn \\(skops\\), xgboost, lightgbm, onnx"):
        plan_import(root, tmp_path)


def test_model_uri_prefers_the_run_then_the_logged_model(tmp_path: Path) -> None:
    assert model_uri({"run_id": "r1", "artifact_path": "model"}, tmp_path) == "runs:/r1/model"
    assert model_uri({"model_id": "m-9"}, tmp_path) == "models:/m-9"
    assert model_uri({}, tmp_path) == tmp_path.resolve().as_uri()


def test_onnx_plan_keeps_example_and_provenance(tmp_path: Path) -> None:
    example = b'{"columns": ["a"], "data": [[1]]}'
    files = {"model.onnx": b"\x08\x07", "input_example.json": example}
    root = _folder(tmp_path, {"onnx": {"data": "model.onnx"}}, files,
                   run_id="abc", artifact_path="m",
                   signature={"inputs": _cols({"type": "double", "name": "a"}), "outputs": None},
                   saved_input_example_info={"artifact_path": "input_example.json", "type": "dataframe"})
    plan = plan_import(root, tmp_path)
    assert plan.flavor == "onnx" and plan.artifact.name == "model.onnx"
    assert plan.signature is not None and plan.signature["input_example"] == {"columns": ["a"], "data": [[1]]}
    assert plan.provenance["mlflow"]["model_uri"] == "runs:/abc/m" and plan.provenance["mlflow"]["run_id"] == "abc"
