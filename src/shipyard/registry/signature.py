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
