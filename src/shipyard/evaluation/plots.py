"""Report plots as base64 PNGs (matplotlib, Agg backend), so the HTML report is one self-contained file."""

from __future__ import annotations

import base64
import io
import math
from typing import Any


def _figure(w: float = 4.2, h: float = 3.2) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(w, h), dpi=90)
    return fig, ax


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plots(evaluation: dict[str, Any]) -> dict[str, str]:
    """Title -> base64 PNG for every plot the evaluation supports."""
    out: dict[str, str] = {}
    curves = evaluation.get("curves")
    if curves:
        fig, ax = _figure()
        ax.plot(curves["roc"]["fpr"], curves["roc"]["tpr"], label="model")
        ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        out["ROC curve"] = _png(fig)
        fig, ax = _figure()
        ax.plot(curves["pr"]["recall"], curves["pr"]["precision"])
        ax.axhline(evaluation.get("positive_rate", 0.0), linestyle="--", color="grey", linewidth=0.8)
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall", ylim=(0, 1.02))
        out["Precision-recall curve"] = _png(fig)
        cal = curves["calibration"]
        fig, ax = _figure()
        ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
        ax.plot(cal["mean_predicted"], cal["fraction_positive"], marker="o")
        ax.set(xlabel="mean predicted probability", ylabel="fraction positive", title="Calibration")
        out["Calibration curve"] = _png(fig)
    cm = evaluation.get("confusion")
    if cm:
        import numpy as np

        labels = [str(c) for c in (evaluation.get("classes") or range(len(cm)))]
        counts = np.asarray(cm, dtype=float)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        fig, ax = _figure(4.2, 3.6)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), labels, rotation=30)
        ax.set_yticks(range(len(labels)), labels)
        for i in range(len(labels)):
            for j in range(len(labels)):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                        color="white" if rates[i, j] > 0.5 else "black", fontsize=8)
        ax.set(xlabel="predicted", ylabel="true (colour: share of the row)", title="Confusion matrix")
        out["Confusion matrix"] = _png(fig)
    res = evaluation.get("residuals")
    if res:
        fig, ax = _figure()
        ax.scatter(res["actual"], res["predicted"], s=8, alpha=0.6)
        lo, hi = min(res["actual"]), max(res["actual"])
        ax.plot([lo, hi], [lo, hi], "--", color="grey", linewidth=0.8)
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
        out["Predicted vs actual"] = _png(fig)
    main = evaluation.get("main_metric", "")
    for column, rows in (evaluation.get("slices") or {}).items():
        vals = [(r["value"], r["metrics"].get(main)) for r in rows
                if not r.get("too_small") and _finite(r["metrics"].get(main))]
        if vals:
            fig, ax = _figure()
            ax.bar([str(v[0]) for v in vals], [v[1] for v in vals], color="#4c72b0")
            ax.set(ylabel=main, title=f"{main} by {column}")
            ax.tick_params(axis="x", rotation=30)
            out[f"Slices: {column}"] = _png(fig)
    for column, fair in (evaluation.get("fairness") or {}).items():
        groups = fair.get("by_group") or []  # groups large enough to judge (too-small ones are listed apart)
        key = next((k for k in ("selection_rate", "accuracy", "rmse") if groups and k in groups[0]), "rmse")
        if not groups:
            continue
        fig, ax = _figure()
        _bars(ax, [str(g["group"]) for g in groups], [g.get(key) for g in groups], "#dd8452", "n/a")
        ax.set(ylabel=key, title=f"Fairness: {key} by {column}")
        ax.tick_params(axis="x", rotation=30)
        out[f"Fairness: {column}"] = _png(fig)
    rob = evaluation.get("robustness") or {}
    if rob:
        fig, ax = _figure()
        _bars(ax, list(rob), [v.get("drop") for v in rob.values()], "#c44e52", "refused")
        ax.set(ylabel=f"{main} degradation", title="Robustness")
        out["Robustness"] = _png(fig)
    imp = {k: v for k, v in ((evaluation.get("importance") or {}).get("values") or {}).items() if _finite(v)}
    if imp:
        items = list(imp.items())[:15][::-1]
        fig, ax = _figure(4.6, 3.6)
        ax.barh([k for k, _ in items], [v for _, v in items], color="#55a868")
        ax.set(xlabel="importance", title=f"Feature importance ({evaluation['importance'].get('method')})")
        out["Feature importance"] = _png(fig)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _bars(ax: Any, labels: list[str], values: list[Any], color: str, missing: str) -> None:
    """A bar per label; a label without a finite value gets no bar but a hatched marker and ``missing``."""
    heights = [float(v) if _finite(v) else 0.0 for v in values]
    bars = ax.bar(labels, heights, color=color)
    for bar, v in zip(bars, values, strict=True):
        if not _finite(v):
            bar.set(hatch="//", edgecolor="grey", facecolor="none")
            ax.annotate(missing, (bar.get_x() + bar.get_width() / 2, 0), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=8, color="#cf222e")
    ax.axhline(0, color="grey", linewidth=0.6)
