"""shipyard: continuous delivery for machine-learning models.

The package import is kept cheap (the CLI starts in well under half a second): the SDK entry
point ``Workspace`` is resolved lazily on first attribute access.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Workspace", "__version__"]

if TYPE_CHECKING:
    from shipyard.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name == "Workspace":
        from shipyard.workspace import Workspace

        return Workspace
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
