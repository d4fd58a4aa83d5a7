"""Parsing model references: ``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``.

Names and aliases are ASCII, matched whole (``fullmatch``: a trailing newline is not a name), and
no longer than their columns (``shipyard.core.limits``); versions are ASCII digits in 1..2**31-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.core.limits import (
    ALIAS_MAX,
    NAME_MAX,
    SUBJECT_MAX,
    TAG_KEY_MAX,
    check_int,
    check_length,
    parse_int,
    preview,
)
from shipyard.errors import InvalidInputError
from shipyard.registry.errors import BadReferenceError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # length: NAME_MAX
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")  # length: ALIAS_MAX
NAME_EXPECTED = "letters, digits, '.', '_' or '-', starting with a letter or digit"
ALIAS_EXPECTED = "a name of letters, digits, '_' or '-' starting with a letter"


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        if self.version is not None:  # a version beyond INTEGER would reach the database as an overflow
            check_int("version", self.version, error=BadReferenceError)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not name:
        raise BadReferenceError(field=field, value=name, expected=NAME_EXPECTED)
    check_length(field, name, NAME_MAX, error=BadReferenceError)
    if not NAME_RE.fullmatch(name):
        raise BadReferenceError(field=field, value=preview(name, 200), expected=NAME_EXPECTED)
    return name


def check_alias(alias: str, model: str | None = None) -> str:
    """An alias; with ``model``, also short enough that ``model:NAME@ALIAS`` fits the audit subject."""
    if not isinstance(alias, str) or not alias:
        raise BadReferenceError(field="alias", value=alias, expected=ALIAS_EXPECTED)
    check_length("alias", alias, ALIAS_MAX, error=BadReferenceError)
    if not ALIAS_RE.fullmatch(alias):
        raise BadReferenceError(field="alias", value=preview(alias, 100), expected=ALIAS_EXPECTED)
    if model is not None:
        room = SUBJECT_MAX - len(f"model:{model}@")
        check_length("alias", alias, room, error=BadReferenceError,
                     hint=f" with the {len(model)}-character model name (the audit subject "
                          f"'model:NAME@ALIAS' holds at most {SUBJECT_MAX})")
    return alias


def parse_ref(text: str) -> ModelRef:
    if not isinstance(text, str):
        raise BadReferenceError(field="model", value=text, expected="NAME, NAME:VERSION or NAME@ALIAS")
    if "@" in text:
        name, alias = text.split("@", 1)
        return ModelRef(check_name(name, "model"), alias=check_alias(alias))
    if ":" in text:
        name, version = text.split(":", 1)
        v = parse_int("version", version, what="NAME:VERSION", error=BadReferenceError)
        return ModelRef(check_name(name, "model"), version=v)
    return ModelRef(check_name(text, "model"))


def check_tag(key: str, value: str) -> None:
    """A tag key of 1..TAG_KEY_MAX characters; neither key nor value may hold NUL (PostgreSQL refuses it)."""
    if not isinstance(key, str) or not key or "\x00" in key:
        raise InvalidInputError(field="tag", value=key if isinstance(key, str) else repr(key),
                                expected="a non-empty tag key without NUL characters")
    check_length("tag", key, TAG_KEY_MAX)
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidInputError(field=f"tag {preview(key)}", value=value if isinstance(value, str) else repr(value),
                                expected="text without NUL characters")
