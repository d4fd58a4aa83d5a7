"""Metric names and directions (no imports: the cached fast path of ``shipyard run`` reads these)."""

from __future__ import annotations

CLASSIFICATION = ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "brier", "log_loss")
# More than two classes: y holds class indices 0..k-1 and scores are the (n, k) probability matrix.
MULTICLASS = ("roc_auc_ovr", "accuracy", "f1_macro", "precision_macro", "recall_macro", "log_loss", "brier")
REGRESSION = ("rmse", "mae", "r2", "mape")
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae", "mape"})
DEFAULT_MAIN = {"classification": "roc_auc", "multiclass": "roc_auc_ovr", "regression": "rmse"}
TASK_METRICS = {"classification": CLASSIFICATION, "multiclass": MULTICLASS, "regression": REGRESSION}
# Binary-classification fairness metrics (fairlearn's), each per sensitive column and as the worst over columns:
# differences (0 = parity, higher is worse: the maximum) and ratios (1 = parity, lower is worse: the minimum).
FAIRNESS_METRICS = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                    "equalized_odds_ratio")
MIN_GROUP_SIZE = 30  # default evaluation.min_group_size
