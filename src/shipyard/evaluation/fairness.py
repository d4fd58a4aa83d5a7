"""Fairness per sensitive column (fairlearn): demographic parity and equalized odds differences, per-group metrics."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.evaluation import metrics as m
from shipyard.evaluation.slices import slice_keys


def fairness(X: Any, sensitive: list[str], y: np.ndarray, s: np.ndarray, task: str) -> dict[str, Any]:
    """``{"columns": {col: {...}}, "metrics": {flat name: value}}``.

    Classification: ``demographic_parity_difference`` and ``equalized_odds_difference`` per column
    (also as ``<name>.<column>``) and their maximum over columns as the headline value; per group the
    selection rate, true/false positive rates, accuracy and size. Multi-class: per group the accuracy,
    size and the rate at which each class is predicted; ``accuracy_group_gap`` (largest minus smallest
    group accuracy) and ``selection_rate_gap`` (largest gap, over classes, between groups' rates of
    predicting that class: demographic parity one class at a time). Regression: per-group rmse/mae and
    the largest gap in rmse between groups (``rmse_group_gap``).
    """
    try:
        from fairlearn.metrics import (
            MetricFrame,
            demographic_parity_difference,
            equalized_odds_difference,
            false_positive_rate,
            selection_rate,
            true_positive_rate,
        )
    except ImportError:
        raise InvalidInputError(field="evaluation.fairness", value=sensitive,
                                expected="the fairness extra: pip install 'shipyard[fairness]'") from None
    columns: dict[str, Any] = {}
    flat: dict[str, float] = {}
    for col in sensitive:
        groups = slice_keys(X[col])
        if task == "classification":
            pred = (s >= 0.5).astype(int)
            dpd = float(demographic_parity_difference(y, pred, sensitive_features=groups))
            eod = float(equalized_odds_difference(y, pred, sensitive_features=groups))
            frame = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                                         "fpr": false_positive_rate, "accuracy": _acc, "n": _count},
                                y_true=y, y_pred=pred, sensitive_features=groups)
            by_group: list[dict[str, Any]] = [{"group": str(g), **{k: _num(v) for k, v in row.items()}}
                                              for g, row in frame.by_group.to_dict(orient="index").items()]
            columns[col] = {"demographic_parity_difference": dpd, "equalized_odds_difference": eod,
                            "by_group": by_group}
            flat[f"demographic_parity_difference.{col}"] = dpd
            flat[f"equalized_odds_difference.{col}"] = eod
        elif task == "multiclass":
            pred = s.argmax(axis=1)
            k = s.shape[1]
            by_group, accs, rate_rows = [], [], []
            for g in sorted(set(groups)):
                mask = groups == g
                rates = np.bincount(pred[mask], minlength=k) / max(int(mask.sum()), 1)
                acc = _acc(y[mask], pred[mask])
                accs.append(acc)
                rate_rows.append(rates)
                by_group.append({"group": str(g), "n": int(mask.sum()), "accuracy": _num(acc),
                                 "selection_rates": [_num(v) for v in rates]})
            acc_gap = float(max(accs) - min(accs))
            sel_gap = float(np.max(np.max(rate_rows, axis=0) - np.min(rate_rows, axis=0)))
            columns[col] = {"accuracy_group_gap": acc_gap, "selection_rate_gap": sel_gap, "by_group": by_group}
            flat[f"accuracy_group_gap.{col}"] = acc_gap
            flat[f"selection_rate_gap.{col}"] = sel_gap
        else:
            by_group = []
            for g in sorted(set(groups)):
                mask = groups == g
                by_group.append({"group": str(g), "n": int(mask.sum()), "rmse": m.rmse(y[mask], s[mask]),
                                 "mae": m.mae(y[mask], s[mask])})
            gap = max(r["rmse"] for r in by_group) - min(r["rmse"] for r in by_group)
            columns[col] = {"rmse_group_gap": gap, "by_group": by_group}
            flat[f"rmse_group_gap.{col}"] = gap
    for name in ("demographic_parity_difference", "equalized_odds_difference", "rmse_group_gap",
                 "accuracy_group_gap", "selection_rate_gap"):
        vals = [v for k, v in flat.items() if k.startswith(name + ".")]
        if vals:
            flat[name] = max(vals)
    return {"columns": columns, "metrics": flat}


def _acc(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _count(y_true: Any, y_pred: Any) -> int:
    return int(len(y_true))


def _num(v: Any) -> float | int | None:
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return None if v != v else round(v, 6)
