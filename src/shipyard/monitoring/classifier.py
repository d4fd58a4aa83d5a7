"""Multivariate drift by a domain classifier: how well can a model tell reference rows from current rows?

Both sides are sampled to at most ``rows`` rows each; numbers stay numbers, categories become codes on
the union of labels (HistGradientBoosting treats them as categorical and handles missing values itself).
The cross-validated ROC AUC is 0.5 when the data sets cannot be told apart; at or above ``threshold``
(default 0.55) the data set as a whole has drifted, even when no single column has.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shipyard.errors import InvalidInputError

DEFAULT_ROWS = 20_000
DEFAULT_THRESHOLD = 0.55


@dataclass(frozen=True)
class ClassifierDrift:
    auc: float
    drifted: bool
    rows: int
    folds: int
    threshold: float
    columns: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def domain_classifier(reference: pa.Table, current: pa.Table, columns: list[str], *, rows: int = DEFAULT_ROWS,
                      folds: int = 3, threshold: float = DEFAULT_THRESHOLD, seed: int = 0) -> ClassifierDrift:
    """Cross-validated AUC of a HistGradientBoosting classifier telling current rows from reference rows.

    Raises:
        InvalidInputError: no shared column to use, or fewer than ``folds`` rows on a side.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    usable = [c for c in columns if c in reference.column_names and c in current.column_names]
    if not usable:
        raise InvalidInputError(field="columns", value=columns, expected="columns present on both sides")
    rng = np.random.default_rng(seed)
    ref = _sample(reference, rows, rng)
    cur = _sample(current, rows, rng)
    n = min(ref.num_rows, cur.num_rows)
    if n < folds:
        raise InvalidInputError(field="rows", value=n, expected=f"at least {folds} rows on each side")
    ref, cur = ref.slice(0, n), cur.slice(0, n)
    features, categorical = [], []
    for name in usable:
        a, b = ref.column(name), cur.column(name)
        if _is_number(a.type) and _is_number(b.type):
            col = np.concatenate([_floats(a), _floats(b)])
            categorical.append(False)
        else:
            text = pa.chunked_array(a.cast(pa.string()).chunks + b.cast(pa.string()).chunks, type=pa.string())
            codes = text.combine_chunks().dictionary_encode().indices
            col = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.float64)
            col = np.where(np.asarray(codes.is_null().to_numpy(zero_copy_only=False)), np.nan, col)
            if np.nanmax(col, initial=0) >= 254:  # too many labels to treat as categories: use the codes
                categorical.append(False)
            else:
                categorical.append(True)
        features.append(col)
    x = np.column_stack(features)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    from threadpoolctl import threadpool_limits

    model = HistGradientBoostingClassifier(max_iter=50, categorical_features=np.array(categorical),
                                           random_state=seed)
    with threadpool_limits(limits=1, user_api="openmp"):  # small data: OpenMP threads only spin on a busy host
        auc = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring="roc_auc")))
    return ClassifierDrift(auc=auc, drifted=auc >= threshold, rows=n, folds=folds, threshold=threshold,
                           columns=usable)


def _sample(table: pa.Table, rows: int, rng: np.random.Generator) -> pa.Table:
    if table.num_rows <= rows:
        return table.take(rng.permutation(table.num_rows))
    return table.take(np.sort(rng.choice(table.num_rows, rows, replace=False)))


def _is_number(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind))


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64)
