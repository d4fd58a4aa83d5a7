"""Flavor name -> constructor; optional-extra flavors import their library lazily."""

from __future__ import annotations

from collections.abc import Callable

from shipyard.errors import InvalidInputError
from shipyard.serving.flavors.base import Flavor


def _sklearn() -> Flavor:
    from shipyard.serving.flavors.sklearn import SklearnFlavor

    return SklearnFlavor()


def _xgboost() -> Flavor:
    from shipyard.serving.flavors.xgboost import XGBoostFlavor

    return XGBoostFlavor()


def _lightgbm() -> Flavor:
    from shipyard.serving.flavors.lightgbm import LightGBMFlavor

    return LightGBMFlavor()


def _onnx() -> Flavor:
    from shipyard.serving.flavors.onnx import OnnxFlavor

    return OnnxFlavor()


def _pyfunc() -> Flavor:
    from shipyard.serving.flavors.pyfunc import PyfuncFlavor

    return PyfuncFlavor()


FLAVORS: dict[str, Callable[[], Flavor]] = {"sklearn": _sklearn, "xgboost": _xgboost, "lightgbm": _lightgbm,
                                            "onnx": _onnx, "pyfunc": _pyfunc}


def create(name: str) -> Flavor:
    try:
        return FLAVORS[name]()
    except KeyError:
        raise InvalidInputError(field="flavor", value=name, expected=" | ".join(sorted(FLAVORS))) from None
