"""Flavor name -> constructor; optional-extra flavors import their library lazily."""

from __future__ import annotations

from collections.abc import Callable

from shipyard.errors import InvalidInputError
from shipyard.serving.flavors.base import Flavor


def _sklearn() -> Flavor:
    from shipyard.serving.flavors.sklearn import SklearnFlavor

    return SklearnFlavor()


FLAVORS: dict[str, Callable[[], Flavor]] = {"sklearn": _sklearn}


def create(name: str) -> Flavor:
    try:
        return FLAVORS[name]()
    except KeyError:
        raise InvalidInputError(field="flavor", value=name, expected=" | ".join(sorted(FLAVORS))) from None
