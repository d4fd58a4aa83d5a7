"""Parsing model references: ``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.registry.errors import BadReferenceError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_name(name: str, field: str = "name") -> str:
    if not NAME_RE.match(name or ""):
        raise BadReferenceError(field=field, value=name,
                                expected="letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


def check_alias(alias: str) -> str:
    if not ALIAS_RE.match(alias or "") or alias.isdigit():
        raise BadReferenceError(field="alias", value=alias,
                                expected="a name of letters, digits, '_' or '-' starting with a letter")
    return alias


def parse_ref(text: str) -> ModelRef:
    if "@" in text:
        name, alias = text.split("@", 1)
        return ModelRef(check_name(name, "model"), alias=check_alias(alias))
    if ":" in text:
        name, version = text.split(":", 1)
        if not version.isdigit() or int(version) < 1:
            raise BadReferenceError(field="version", value=version, expected="a positive integer (NAME:VERSION)")
        return ModelRef(check_name(name, "model"), version=int(version))
    return ModelRef(check_name(text, "model"))
