"""Multiple-testing correction for per-column p-values (Holm-Bonferroni)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shipyard.errors import InvalidInputError


def holm_bonferroni(p_values: Sequence[float | None], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses to reject (columns that drifted) at family-wise error rate ``alpha``.

    Holm's step-down: sort the p-values, reject the k-th smallest while ``p <= alpha / (m - k)``
    and stop at the first that is not. Testing many columns at plain ``p < alpha`` raises false
    alarms; this keeps the chance of any false alarm at ``alpha``. ``None`` or NaN never rejects.

    Args:
        p_values: one p-value per column, in any order.
        alpha: the family-wise error rate.

    Returns:
        One boolean per input, in input order.

    Raises:
        InvalidInputError: ``alpha`` is outside (0, 1) or a p-value is outside [0, 1].
    """
    if not 0 < alpha < 1:
        raise InvalidInputError(field="alpha", value=alpha, expected="a number between 0 and 1")
    p = np.array([np.nan if v is None else v for v in p_values], dtype=np.float64)
    if ((p < 0) | (p > 1)).any():
        raise InvalidInputError(field="p_values", value=p_values, expected="p-values in [0, 1]")
    m = p.size
    if m == 0:
        return []
    p = np.where(np.isnan(p), 1.0 + 1.0, p)  # sorts last, never passes
    order = np.argsort(p, kind="stable")
    passes = p[order] <= alpha / (m - np.arange(m))
    first_fail = int(np.argmin(passes)) if not passes.all() else m
    reject = np.zeros(m, dtype=bool)
    reject[order[:first_fail]] = True
    return reject.tolist()
