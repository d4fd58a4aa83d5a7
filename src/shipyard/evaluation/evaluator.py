"""Evaluate one model (and the champion, on the same test set) into the evaluation document.

The document is plain JSON: ``metrics`` (flat name -> number: task metrics, fairness, robustness
drops, efficiency) is what gates read and what ``shipyard models show`` prints; the rest is detail
for reports (curves, slices, fairness by group, robustness, importance, intervals, champion).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.evaluation import bootstrap
from shipyard.evaluation import metrics as m
from shipyard.evaluation.names import MIN_GROUP_SIZE
from shipyard.evaluation.scoring import score


class EvaluationWarning(UserWarning):
    """Something the evaluation could not judge well (too-small groups); also listed in the document."""


@dataclass
class EvaluationOptions:
    task: str
    main: str
    slices: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    robustness: dict[str, float] | None = None  # missing_rate, noise, swap_rate
    bootstrap: int = 200
    ci_metrics: list[str] = field(default_factory=list)
    shap: bool = False
    seed: int = 0
    headline: list[str] = field(default_factory=list)
    n_classes: int = 0  # multiclass: the number of classes (y holds indices 0..n_classes-1)
    fairness_metric: str = "demographic_parity_difference"  # evaluation.fairness.metric: the one reports lead with
    min_group_size: int = MIN_GROUP_SIZE  # evaluation.min_group_size: smaller slices/groups are "too small"


def evaluate(model: Any, X: Any, y: np.ndarray, opts: EvaluationOptions, *, artifact_size: int,
             champion: Any = None, champion_ref: str | None = None,
             champion_artifact_size: int = 0) -> dict[str, Any]:
    """Compute the whole evaluation; ``champion`` is a loaded model scored on the same ``X``, with the
    same task, fairness, robustness and efficiency metrics, so any metric can be gated ``vs champion``.

    Runs with one BLAS/OpenMP thread: the many small predictions here (permutations, perturbations,
    single rows) stall for up to a second each when OpenMP threads spin on a busy machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _evaluate(model, X, y, opts, artifact_size=artifact_size, champion=champion,
                         champion_ref=champion_ref, champion_artifact_size=champion_artifact_size)


def _evaluate(model: Any, X: Any, y: np.ndarray, opts: EvaluationOptions, *, artifact_size: int,
              champion: Any = None, champion_ref: str | None = None,
              champion_artifact_size: int = 0) -> dict[str, Any]:
    s = _scores(model, X, opts)
    task_metrics = m.compute(opts.task, y, s)
    flat: dict[str, float] = dict(task_metrics)
    doc: dict[str, Any] = {"task": opts.task, "main_metric": opts.main, "test_rows": int(len(y)),
                           "headline": opts.headline or list(m.names_for(opts.task))}
    if opts.task == "classification":
        doc["curves"] = m.curves(y, s)
        doc["positive_rate"] = float(np.mean(y))
    elif opts.task == "multiclass":
        doc["confusion"] = m.confusion(y, s).tolist()
        doc["per_class"] = m.per_class_report(y, s)
        doc["class_rates"] = [round(float(v), 6) for v in np.bincount(y, minlength=s.shape[1]) / max(len(y), 1)]
    else:
        doc["residuals"] = _residual_summary(y, s)
    found: list[str] = []  # warnings: what the numbers cannot tell, each naming the config key and column
    unavailable: dict[str, str] = {}  # metric -> why it has no value (a gate on it fails and says this)
    if opts.slices:
        from shipyard.evaluation.slices import slice_metrics, small_slice_warnings

        doc["slices"] = slice_metrics(X, opts.slices, y, s, opts.task, min_group_size=opts.min_group_size)
        found += small_slice_warnings(doc["slices"], opts.min_group_size)
    if opts.sensitive:
        from shipyard.evaluation.fairness import fairness

        fair = fairness(X, opts.sensitive, y, s, opts.task, min_group_size=opts.min_group_size)
        doc["fairness"] = fair["columns"]
        doc["fairness_metric"] = opts.fairness_metric if opts.task == "classification" else None
        flat.update(fair["metrics"])
        found += fair["warnings"]
        unavailable.update(fair["unavailable"])
    doc["min_group_size"] = opts.min_group_size
    base = task_metrics[opts.main]
    if opts.robustness:
        from shipyard.evaluation.robustness import robustness

        rob = robustness(model, X, y, opts.task, opts.main, base, seed=opts.seed, **opts.robustness)
        doc["robustness"] = rob["perturbations"]
        flat.update(rob["metrics"])
        unavailable.update(_refused(rob["perturbations"]))
    from shipyard.evaluation.efficiency import efficiency

    eff = efficiency(model, X, opts.task, artifact_size)
    doc["efficiency"] = eff
    flat.update(eff)
    from shipyard.evaluation.importance import permutation_importance, shap_importance

    doc["importance"] = {"method": "permutation",
                         "values": permutation_importance(model, X, y, opts.task, opts.main, base, seed=opts.seed)}
    if opts.shap:
        doc["importance"] = {"method": "shap", "values": shap_importance(model, X, opts.task, seed=opts.seed),
                             "permutation": doc["importance"]["values"]}
    ci: dict[str, list[float]] = {}
    if opts.bootstrap:
        for name in dict.fromkeys([opts.main, *opts.ci_metrics]):
            if name in m.METRICS:
                ci[name] = bootstrap.metric_ci(name, y, s, b=opts.bootstrap, seed=opts.seed).to_list()
    doc["ci"] = ci
    doc["bootstrap"] = {"resamples": opts.bootstrap, "confidence": 0.95, "method": "percentile"}
    doc["champion"] = None
    if champion is not None:
        doc["champion"] = _champion(champion, champion_ref, X, y, s, opts, champion_artifact_size)
    doc["metrics"] = {k: _finite(v) for k, v in flat.items()}
    doc["unavailable"] = unavailable
    doc["warnings"] = found
    for text in found:  # the run's step log records these (the local executor captures warnings)
        warnings.warn(text, EvaluationWarning, stacklevel=3)
    return doc


def _refused(perturbations: dict[str, Any]) -> dict[str, str]:
    return {f"robustness_{kind}_drop": f"the model refused the {kind} perturbation: {r['error']}"
            for kind, r in perturbations.items() if r.get("error")}


def _champion(champion: Any, ref: str | None, X: Any, y: np.ndarray, s: np.ndarray,
              opts: EvaluationOptions, artifact_size: int) -> dict[str, Any]:
    from shipyard.evaluation.efficiency import efficiency

    cs = _scores(champion, X, opts, "champion")
    cm: dict[str, float] = m.compute(opts.task, y, cs)
    unavailable: dict[str, str] = {}
    if opts.sensitive:
        from shipyard.evaluation.fairness import fairness

        fair = fairness(X, opts.sensitive, y, cs, opts.task, min_group_size=opts.min_group_size)
        cm.update(fair["metrics"])
        unavailable.update(fair["unavailable"])
    if opts.robustness:
        from shipyard.evaluation.robustness import robustness

        rob = robustness(champion, X, y, opts.task, opts.main, cm[opts.main], seed=opts.seed, **opts.robustness)
        cm.update(rob["metrics"])
        unavailable.update(_refused(rob["perturbations"]))
    cm.update(efficiency(champion, X, opts.task, artifact_size))
    diff_ci: dict[str, list[float]] = {}
    if opts.bootstrap:
        for name in dict.fromkeys([opts.main, *opts.ci_metrics]):
            if name in m.METRICS:
                d, rel = bootstrap.paired_diff_ci(name, y, s, cs, b=opts.bootstrap, seed=opts.seed)
                diff_ci[name], diff_ci[name + "%"] = d.to_list(), rel.to_list()
    return {"ref": ref, "metrics": {k: _finite(v) for k, v in cm.items()}, "diff_ci": diff_ci,
            "unavailable": unavailable}


def _scores(model: Any, X: Any, opts: EvaluationOptions, who: str = "model") -> np.ndarray:
    s = score(model, X, opts.task)
    if opts.task == "multiclass" and opts.n_classes and s.shape[1] != opts.n_classes:
        from shipyard.errors import InvalidInputError

        raise InvalidInputError(f"{who}: predict_proba gives {s.shape[1]} columns; the target has {opts.n_classes} "
                                "classes", field=who, value=f"{s.shape[1]} probability columns",
                                expected=f"{opts.n_classes} columns, one per class (trained on every class)")
    return s


def _finite(v: float) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def _residual_summary(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    r = y - p
    pick = np.linspace(0, y.size - 1, min(300, y.size)).round().astype(int)
    return {"actual": [float(v) for v in y[pick]], "predicted": [float(v) for v in p[pick]],
            "mean": float(r.mean()), "std": float(r.std())}
