"""Fairness per sensitive column (fairlearn): demographic parity and equalized odds (differences and ratios),
per-group metrics. Groups with fewer test rows than ``min_group_size`` are listed as too small and left out."""

from __future__ import annotations

from typing import Any

import numpy as np

from shipyard.errors import InvalidInputError
from shipyard.evaluation import metrics as m
from shipyard.evaluation.names import FAIRNESS_METRICS, MIN_GROUP_SIZE
from shipyard.evaluation.slices import slice_keys, small_groups_text


def fairness(X: Any, sensitive: list[str], y: np.ndarray, s: np.ndarray, task: str, *,
             min_group_size: int = MIN_GROUP_SIZE) -> dict[str, Any]:
    """``{"columns": {col: {...}}, "metrics": {flat name: value}, "warnings": [...], "unavailable": {...}}``.

    Classification: ``demographic_parity_difference|ratio`` and ``equalized_odds_difference|ratio`` per column
    (also as ``<name>.<column>``) and the worst over columns as the headline value (the largest difference,
    the smallest ratio); per group the selection rate, true/false positive rates, accuracy and size.
    Multi-class: per group the accuracy, size and the rate at which each class is predicted;
    ``accuracy_group_gap`` (largest minus smallest group accuracy) and ``selection_rate_gap`` (largest gap, over
    classes, between groups' rates of predicting that class: demographic parity one class at a time).
    Regression: per-group rmse/mae and the largest gap in rmse between groups (``rmse_group_gap``).

    Only groups with at least ``min_group_size`` rows take part (a group of one row makes any difference 1.0);
    smaller ones are listed in ``small_groups`` with their size and a warning names the column. With fewer than
    two such groups the column's values are NaN (a gate on them fails) and ``unavailable`` says why.
    """
    try:
        from fairlearn.metrics import (
            MetricFrame,
            demographic_parity_difference,
            demographic_parity_ratio,
            equalized_odds_difference,
            equalized_odds_ratio,
            false_positive_rate,
            selection_rate,
            true_positive_rate,
        )
    except ImportError:
        raise InvalidInputError(field="evaluation.fairness", value=sensitive,
                                expected="the fairness extra: pip install 'shipyard[fairness]'") from None
    columns: dict[str, Any] = {}
    flat: dict[str, float] = {}
    warnings: list[str] = []
    unavailable: dict[str, str] = {}
    names = FAIRNESS_METRICS if task == "classification" else (
        ("accuracy_group_gap", "selection_rate_gap") if task == "multiclass" else ("rmse_group_gap",))
    for col in sensitive:
        all_groups = slice_keys(X[col])
        values, counts = np.unique(all_groups.astype(str), return_counts=True)
        small = sorted(((str(v), int(n)) for v, n in zip(values, counts, strict=True) if n < min_group_size),
                       key=lambda t: (-t[1], t[0]))
        keep = ~np.isin(all_groups.astype(str), [g for g, _ in small])
        groups, yk = all_groups[keep], y[keep]
        sk = s[keep]
        entry: dict[str, Any] = {}
        if small:
            warnings.append(f"evaluation.fairness.sensitive: {col} has {len(small)} of {len(values)} groups with "
                            f"fewer than {min_group_size} test rows ({small_groups_text(small)}); they are left out "
                            f"of its fairness metrics (evaluation.min_group_size: {min_group_size})")
        if len(values) - len(small) < 2:
            why = (f"fewer than 2 groups of {col} have at least {min_group_size} test rows "
                   f"({len(values) - len(small)} of {len(values)}; evaluation.min_group_size: {min_group_size})")
            for name in names:
                entry[name] = float("nan")
                flat[f"{name}.{col}"] = float("nan")
                unavailable[f"{name}.{col}"] = why
            entry["note"] = why
            by_group: list[dict[str, Any]] = []
        elif task == "classification":
            pred = (sk >= 0.5).astype(int)
            fns = {"demographic_parity_difference": demographic_parity_difference,
                   "demographic_parity_ratio": demographic_parity_ratio,
                   "equalized_odds_difference": equalized_odds_difference, "equalized_odds_ratio": equalized_odds_ratio}
            entry = {k: float(fn(yk, pred, sensitive_features=groups)) for k, fn in fns.items()}
            frame = MetricFrame(metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                                         "fpr": false_positive_rate, "accuracy": _acc, "n": _count},
                                y_true=yk, y_pred=pred, sensitive_features=groups)
            by_group = [{"group": str(g), **{k: _num(v) for k, v in row.items()}}
                        for g, row in frame.by_group.to_dict(orient="index").items()]
        elif task == "multiclass":
            pred = sk.argmax(axis=1)
            k = sk.shape[1]
            by_group, accs, rate_rows = [], [], []
            for g in sorted(set(groups)):
                mask = groups == g
                rates = np.bincount(pred[mask], minlength=k) / max(int(mask.sum()), 1)
                acc = _acc(yk[mask], pred[mask])
                accs.append(acc)
                rate_rows.append(rates)
                by_group.append({"group": str(g), "n": int(mask.sum()), "accuracy": _num(acc),
                                 "selection_rates": [_num(v) for v in rates]})
            entry = {"accuracy_group_gap": float(max(accs) - min(accs)),
                     "selection_rate_gap": float(np.max(np.max(rate_rows, axis=0) - np.min(rate_rows, axis=0)))}
        else:
            by_group = []
            for g in sorted(set(groups)):
                mask = groups == g
                by_group.append({"group": str(g), "n": int(mask.sum()), "rmse": m.rmse(yk[mask], sk[mask]),
                                 "mae": m.mae(yk[mask], sk[mask])})
            entry = {"rmse_group_gap": max(r["rmse"] for r in by_group) - min(r["rmse"] for r in by_group)}
        for name in names:
            if name in entry:
                flat[f"{name}.{col}"] = entry[name]
                if entry[name] != entry[name] and f"{name}.{col}" not in unavailable:
                    unavailable[f"{name}.{col}"] = (f"{name} is not defined on this test set for {col} "
                                                    "(a group without positive or negative rows)")
        entry["by_group"] = by_group
        entry["small_groups"] = [{"group": g, "n": n} for g, n in small]
        entry["min_group_size"] = min_group_size
        columns[col] = entry
    for name in names:
        vals = [flat[f"{name}.{col}"] for col in sensitive if f"{name}.{col}" in flat]
        if not vals:
            continue
        missing = [col for col in sensitive if f"{name}.{col}" in unavailable]
        if missing:  # a column we could not measure: the headline value cannot claim parity
            flat[name] = float("nan")
            unavailable[name] = "; ".join(unavailable[f"{name}.{col}"] for col in missing)
        else:
            flat[name] = min(vals) if name.endswith("_ratio") else max(vals)
    return {"columns": columns, "metrics": flat, "warnings": warnings, "unavailable": unavailable}


def _acc(y_true: Any, y_pred: Any) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _count(y_true: Any, y_pred: Any) -> int:
    return int(len(y_true))


def _num(v: Any) -> float | int | None:
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    return None if v != v else round(v, 6)
