"""Flavor name -> constructor; optional-extra flavors import their library lazily."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from shipyard.errors import InvalidInputError
from shipyard.flavors.base import Flavor

if TYPE_CHECKING:
    from shipyard.flavors.sandbox import SandboxLimits


def _sklearn() -> Flavor:
    from shipyard.flavors.sklearn import SklearnFlavor

    return SklearnFlavor()


def _xgboost() -> Flavor:
    from shipyard.flavors.xgboost import XGBoostFlavor

    return XGBoostFlavor()


def _lightgbm() -> Flavor:
    from shipyard.flavors.lightgbm import LightGBMFlavor

    return LightGBMFlavor()


def _onnx() -> Flavor:
    from shipyard.flavors.onnx import OnnxFlavor

    return OnnxFlavor()


def _pyfunc() -> Flavor:
    from shipyard.flavors.pyfunc import PyfuncFlavor

    return PyfuncFlavor()


FLAVORS: dict[str, Callable[[], Flavor]] = {"sklearn": _sklearn, "xgboost": _xgboost, "lightgbm": _lightgbm,
                                            "onnx": _onnx, "pyfunc": _pyfunc}


def create(name: str, sandbox: SandboxLimits | None = None) -> Flavor:
    """The flavor ``name``; ``sandbox``: limits for a flavor that runs user code in a child (pyfunc)."""
    if name == "pyfunc" and sandbox is not None:
        from shipyard.flavors.pyfunc import PyfuncFlavor

        return PyfuncFlavor(sandbox)
    try:
        return FLAVORS[name]()
    except KeyError:
        raise InvalidInputError(field="flavor", value=name, expected=" | ".join(sorted(FLAVORS))) from None
