"""The domain classifier: AUC near 0.5 for two samples of one distribution, high when a joint shift hides per column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from shipyard.data.drift import compare_profiles
from shipyard.data.profile import profile_table
from shipyard.data.schema import infer_schema
from shipyard.monitoring.classifier import domain_classifier


def _pair(rng: np.random.Generator, n: int, rho: float) -> pa.Table:
    x = rng.normal(0, 1, n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    return pa.table({"x": x, "y": y, "k": rng.choice(["a", "b"], n)})


def test_a_correlation_flip_is_invisible_per_column_but_not_to_the_classifier() -> None:
    rng = np.random.default_rng(3)
    ref, cur, same = _pair(rng, 4000, 0.8), _pair(rng, 4000, -0.8), _pair(rng, 4000, 0.8)
    schema = infer_schema(ref)
    per_column = compare_profiles(profile_table(ref, schema), profile_table(cur, schema)).verdict
    assert per_column.drifted == []  # each margin is still N(0, 1)
    shifted = domain_classifier(ref, cur, ["x", "y", "k"], rows=3000)
    clean = domain_classifier(ref, same, ["x", "y", "k"], rows=3000)
    assert shifted.drifted and shifted.auc > 0.8 and shifted.rows == 3000
    assert not clean.drifted and clean.auc < 0.55
