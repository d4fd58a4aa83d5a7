"""Drift tests by name: ``TESTS`` maps a name to a constructor taking the decision threshold."""

from __future__ import annotations

from collections.abc import Callable

from shipyard.core.drift.base import DriftTest
from shipyard.core.drift.chi2 import Chi2DriftTest
from shipyard.core.drift.jensenshannon import JensenShannonDriftTest
from shipyard.core.drift.ks import KsDriftTest
from shipyard.core.drift.psi import PsiDriftTest
from shipyard.errors import InvalidInputError


def _psi(threshold: float | None) -> DriftTest:
    return PsiDriftTest() if threshold is None else PsiDriftTest(threshold)


def _ks(threshold: float | None) -> DriftTest:
    return KsDriftTest() if threshold is None else KsDriftTest(threshold)


def _chi2(threshold: float | None) -> DriftTest:
    return Chi2DriftTest() if threshold is None else Chi2DriftTest(threshold)


def _jensenshannon(threshold: float | None) -> DriftTest:
    return JensenShannonDriftTest() if threshold is None else JensenShannonDriftTest(threshold)


TESTS: dict[str, Callable[[float | None], DriftTest]] = {
    "psi": _psi,
    "ks": _ks,
    "chi2": _chi2,
    "jensenshannon": _jensenshannon,
}
"""Name -> constructor. The threshold is a score level for distances (psi, jensenshannon) and
alpha for p-value tests (ks, chi2); ``None`` takes the test's default (0.1, 0.05, 0.05, 0.1)."""


def create(name: str, threshold: float | None = None) -> DriftTest:
    """The drift test registered under ``name``.

    Raises:
        InvalidInputError: no test has that name; the message lists the choices.
    """
    try:
        factory = TESTS[name]
    except KeyError:
        raise InvalidInputError(field="drift test", value=name, expected=" | ".join(sorted(TESTS))) from None
    return factory(threshold)
