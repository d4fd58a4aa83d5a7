"""ONNX models run by onnxruntime: a graph of known operators, no code execution, one intra-op thread."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.flavors.base import ArtifactFormatError, ArtifactInfo

_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
           "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(string)": np.object_}


def _session(data: bytes) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ArtifactFormatError(field="flavor", value="onnx",
                                  expected="onnxruntime installed: pip install 'shipyard[onnx]'") from None
    opts = ort.SessionOptions()
    # The gateway batches and runs several predictions side by side: one thread per call.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph classes
        raise ArtifactFormatError(field="artifact", value="<bytes>",
                                  expected=f"a valid ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None


def class_labels(data: bytes) -> list[Any] | None:
    """A classifier's labels in the order of its probability columns, read from the graph: the ZipMap
    node's ``classlabels_*`` (its order is the output's), else the ``ai.onnx.ml`` *Classifier node's.
    None without the ``onnx`` package (installed with skl2onnx) or for a graph that names no labels."""
    try:
        import onnx
        from onnx import helper
    except ImportError:
        return None
    try:
        graph = onnx.load_model_from_string(data).graph
    except Exception:  # noqa: BLE001 - onnxruntime accepted it; labels are optional
        return None
    nodes = sorted(graph.node, key=lambda n: n.op_type != "ZipMap")
    for node in nodes:
        if node.op_type != "ZipMap" and not node.op_type.endswith("Classifier"):
            continue
        for attr in node.attribute:
            if attr.name in ("classlabels_int64s", "classlabels_ints", "classlabels_strings"):
                values = list(helper.get_attribute_value(attr))
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values] or None
    return None


class OnnxModel:
    """predict / predict_proba over an ONNX session (sklearn-onnx naming: label + probabilities).
    ``classes_`` (when the graph names its labels) makes the gateway return probabilities too."""

    def __init__(self, session: Any, classes: list[Any] | None = None) -> None:
        self.session = session
        self.inputs = session.get_inputs()
        self.output_names = [o.name for o in session.get_outputs()]
        self.label_name = next((n for n in self.output_names if "label" in n.lower()), self.output_names[0])
        self.proba_name = next((n for n in self.output_names if "prob" in n.lower()), None)
        self.feature_names = [i.name for i in self.inputs] if len(self.inputs) > 1 else None
        if classes is not None and self.proba_name is not None:
            self.classes_ = np.asarray(classes)

    def _feed(self, X: Any) -> dict[str, Any]:
        if len(self.inputs) == 1:
            i = self.inputs[0]
            return {i.name: np.asarray(X, dtype=_DTYPES.get(i.type, np.float32))}
        cols = X if isinstance(X, dict) else {c: X[c] for c in X.columns} if hasattr(X, "columns") else None
        if cols is None:
            arr = np.asarray(X)
            cols = {i.name: arr[:, j] for j, i in enumerate(self.inputs)}
        return {i.name: np.asarray(cols[i.name], dtype=_DTYPES.get(i.type, np.float32)).reshape(-1, 1)
                for i in self.inputs}

    def _run(self, X: Any) -> dict[str, Any]:
        outs = self.session.run(None, self._feed(X))
        return dict(zip(self.output_names, outs, strict=True))

    def predict(self, X: Any) -> Any:
        return np.asarray(self._run(X)[self.label_name]).ravel()

    def predict_proba(self, X: Any) -> Any:
        if self.proba_name is None:
            raise ArtifactFormatError(field="outputs", value=self.output_names, expected="a probabilities output")
        p = self._run(X)[self.proba_name]
        if isinstance(p, list):  # ZipMap output: a list of {class: probability}
            classes = getattr(self, "classes_", None)
            keys = classes.tolist() if classes is not None else sorted(p[0]) if p else []
            return np.array([[d[k] for k in keys] for d in p], dtype=np.float64)
        return np.asarray(p, dtype=np.float64)


class OnnxFlavor:
    name = "onnx"

    def inspect(self, path: Path, *, trusted_types: Iterable[str] = ()) -> ArtifactInfo:
        model = self.load(Path(path).read_bytes())
        names = model.feature_names
        classes = getattr(model, "classes_", None)
        return ArtifactInfo(feature_names=names, classes=classes.tolist() if classes is not None else None,
                            task="classification" if model.proba_name else "regression",
                            details={"inputs": [{"name": i.name, "type": i.type, "shape": [str(d) for d in i.shape]}
                                                for i in model.inputs], "outputs": model.output_names})

    def load(self, data: bytes, *, trusted_types: Iterable[str] = ()) -> OnnxModel:
        return OnnxModel(_session(data), class_labels(data))
