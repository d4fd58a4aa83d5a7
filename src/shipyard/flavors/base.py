"""The Flavor protocol: inspect an artifact at registration, load it for prediction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shipyard.errors import InvalidInputError

# The first bytes of a pickle (protocols 3-5): such an artifact is refused, whatever its name.
PICKLE_HEADERS = (b"\x80\x03", b"\x80\x04", b"\x80\x05")


def require_extra(module: str, extra: str) -> Any:
    """Import an optional library or say which extra installs it (exit 2, not a traceback)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidInputError(field="flavor", value=extra,
                                expected=f"the {extra} extra: pip install 'shipyard[{extra}]'") from None


class UnsafeArtifactError(InvalidInputError):
    """The artifact would need untrusted code or types to load (e.g. a pickle)."""


class ArtifactFormatError(InvalidInputError):
    """The artifact is not in the format its flavor expects."""


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """What registration learns from an artifact without trusting it."""

    feature_names: list[str] | None = None
    classes: list[Any] | None = None
    task: str | None = None  # classification | regression
    details: dict[str, Any] = field(default_factory=dict)


class LoadedModel(Protocol):
    def predict(self, X: Any) -> Any: ...


class Flavor(Protocol):
    name: str

    def inspect(self, path: Path, *, trusted_types: Iterable[str] = ()) -> ArtifactInfo:
        """Check the file is a safe, loadable artifact of this flavor; raise UnsafeArtifactError otherwise.
        ``trusted_types``: the workspace's extra trusted types (shipyard.yaml); flavors without a type
        allow-list ignore it. Types only they made loadable go into ``details["trusted_types"]``."""
        ...

    def load(self, data: bytes, *, trusted_types: Iterable[str] = ()) -> LoadedModel:
        """Load verified bytes into a model object (``trusted_types``: those recorded with the version)."""
        ...
