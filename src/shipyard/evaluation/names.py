"""Metric names and directions (no imports: the cached fast path of ``shipyard run`` reads these)."""

from __future__ import annotations

CLASSIFICATION = ("roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "brier", "log_loss")
REGRESSION = ("rmse", "mae", "r2", "mape")
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "rmse", "mae", "mape"})
DEFAULT_MAIN = {"classification": "roc_auc", "regression": "rmse"}
