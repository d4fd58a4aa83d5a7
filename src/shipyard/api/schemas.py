"""Shared pieces of the HTTP request bodies (pydantic, strict: unknown keys are refused, no type coercion)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

# Free text: bounded, and without NUL (PostgreSQL refuses it in text columns).
Text = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]


class Body(BaseModel):
    # strict: JSON true is not the integer 1, "5" is not 5, 1.0 is not a version (ints stay ints).
    model_config = ConfigDict(extra="forbid", strict=True)
