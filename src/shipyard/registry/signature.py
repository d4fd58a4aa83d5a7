"""Model signatures: input columns with types, derived from a dataset schema."""

from __future__ import annotations

from typing import Any


def signature_from_schema(schema: dict[str, Any], target: str | None = None,
                          outputs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Inputs are the schema's columns minus the target, in order, with type, nullability and domain."""
    inputs = []
    for c in schema.get("columns", []):
        if c["name"] == target:
            continue
        spec: dict[str, Any] = {"name": c["name"], "type": c["type"], "nullable": bool(c.get("nullable"))}
        if c.get("categories") is not None:
            spec["categories"] = list(c["categories"])
        inputs.append(spec)
    return {"inputs": inputs, "outputs": outputs or [{"name": "prediction"}], "source": "dataset schema"}


SIGNATURE_TYPES = ("integer", "float", "boolean", "category", "string", "datetime")
MAX_COLUMNS = 10_000


def _bad(field: str, value: Any, expected: str) -> Exception:
    from shipyard.errors import InvalidInputError

    return InvalidInputError(field=field, value=value if isinstance(value, (str, int, float, bool)) or value is None
                             else type(value).__name__, expected=expected)


def check_signature(signature: Any) -> dict[str, Any] | None:
    """A signature as the gateway and the CLI read it, or an error naming the first bad field.

    ``{"inputs": [{"name": str, "type": one of SIGNATURE_TYPES, "nullable": bool, "categories": [...]}, ...],
    "outputs": [{"name": str, ...}], ...}``; other keys are kept. Registration checks it, so a signature sent
    through the API cannot leave a version that `models show` or the gateway fails to read.
    """
    if signature is None:
        return None
    if not isinstance(signature, dict):
        raise _bad("signature", signature, "an object with inputs: [{name, type}, ...]")
    inputs = signature.get("inputs")
    if not isinstance(inputs, list) or len(inputs) > MAX_COLUMNS:
        raise _bad("signature.inputs", inputs, f"a list of at most {MAX_COLUMNS} {{name, type}} objects")
    seen: set[str] = set()
    for i, col in enumerate(inputs):
        where = f"signature.inputs[{i}]"
        if not isinstance(col, dict):
            raise _bad(where, col, "an object {name, type, nullable}")
        name = col.get("name")
        if not isinstance(name, str) or not name or len(name) > 200:
            raise _bad(f"{where}.name", name, "a column name (1-200 characters)")
        if name in seen:
            raise _bad(f"{where}.name", name, "each column once")
        seen.add(name)
        if col.get("type", "float") not in SIGNATURE_TYPES:
            raise _bad(f"{where}.type", col.get("type"), " | ".join(SIGNATURE_TYPES))
        if not isinstance(col.get("nullable", True), bool):
            raise _bad(f"{where}.nullable", col.get("nullable"), "true | false")
        cats = col.get("categories")
        if cats is not None and (not isinstance(cats, list)
                                 or not all(c is None or isinstance(c, (str, int, float, bool)) for c in cats)):
            raise _bad(f"{where}.categories", cats, "a list of values")
    outputs = signature.get("outputs", [])
    if not isinstance(outputs, list):
        raise _bad("signature.outputs", outputs, "a list of {name} objects")
    for i, out in enumerate(outputs):
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise _bad(f"signature.outputs[{i}]", out, "an object {name, ...}")
        labels = out.get("labels")
        if labels is not None and not isinstance(labels, list):
            raise _bad(f"signature.outputs[{i}].labels", labels, "a list of class labels")
    return signature


def check_evaluation(evaluation: Any) -> dict[str, Any] | None:
    """An evaluation record whose ``metrics`` (read by gates, `models show` and the card) are name -> number."""
    if evaluation is None:
        return None
    if not isinstance(evaluation, dict):
        raise _bad("evaluation", evaluation, "an object {metrics: {name: number}, ...}")
    metrics = evaluation.get("metrics", {})
    if not isinstance(metrics, dict):
        raise _bad("evaluation.metrics", metrics, "an object {metric name: number or null}")
    for k, v in metrics.items():
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise _bad(f"evaluation.metrics.{k}", v, "a number or null")
    for key in ("slices", "fairness", "robustness", "champion", "importance", "ci", "bootstrap", "efficiency"):
        if evaluation.get(key) is not None and not isinstance(evaluation[key], dict):
            raise _bad(f"evaluation.{key}", evaluation[key], "an object")
    for key in ("gates", "headline", "classes"):
        if evaluation.get(key) is not None and not isinstance(evaluation[key], list):
            raise _bad(f"evaluation.{key}", evaluation[key], "a list")
    return evaluation
