"""Flavor name -> constructor; optional-extra flavors import their library lazily."""

from __future__ import annotations

from collections.abc import Callable

from shipyard.errors import InvalidInputError
from shipyard.flavors.base import Flavor


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


def create(name: str) -> Flavor:
    try:
        return FLAVORS[name]()
    except KeyError:
        raise InvalidInputError(field="flavor", value=name, expected=" | ".join(sorted(FLAVORS))) from None
