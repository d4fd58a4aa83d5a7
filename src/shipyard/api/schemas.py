"""Shared pieces of the HTTP request bodies (pydantic, strict: unknown keys are refused)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

# Free text: bounded, and without NUL (PostgreSQL refuses it in text columns).
Text = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
ShortText = Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
