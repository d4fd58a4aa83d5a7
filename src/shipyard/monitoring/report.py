"""The self-contained HTML drift report: a table of the verdict and one plot per column (base64 PNGs).

Plots come from the two summaries alone (quantile sketches or category counts), so a report against a
stored profile needs no training data. Every printed value is escaped (Jinja2 autoescape): column names
and category labels come from the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shipyard.core.drift.engine import Summary
from shipyard.core.drift.summary import CategoricalSummary, NumericSummary, align

MAX_PLOTS = 60  # columns beyond this are listed in the table without a plot
MAX_LABELS = 20  # category bars shown per plot (the largest in the reference)


def column_plot(name: str, reference: Summary, current: Summary) -> str:
    """One base64 PNG: overlaid densities on the reference's quantile grid, or category shares side by side."""
    from shipyard.evaluation.plots import _figure, _png

    fig, ax = _figure(4.6, 3.0)
    if isinstance(reference, NumericSummary) and isinstance(current, NumericSummary):
        low, high = reference.quantiles(np.array([0.005, 0.995]))
        c_low, c_high = current.quantiles(np.array([0.005, 0.995]))
        lo, hi = float(min(low, c_low)), float(max(high, c_high))
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, 41)
        width = np.diff(edges)
        for summary, label, colour in ((reference, "reference", "#1f77b4"), (current, "current", "#d62728")):
            shares = summary.mass_on(np.concatenate([[-np.inf], edges, [np.inf]]))[1:-1]
            ax.step(edges[:-1], shares / width, where="post", label=label, color=colour)
        ax.set(xlabel=name, ylabel="density")
    elif isinstance(reference, CategoricalSummary) and isinstance(current, CategoricalSummary):
        labels, rc, cc = align(reference, current)
        order = np.argsort(-rc, kind="stable")[:MAX_LABELS]
        x = np.arange(order.size)
        ax.bar(x - 0.2, rc[order] / max(rc.sum(), 1.0), width=0.4, label="reference", color="#1f77b4")
        ax.bar(x + 0.2, cc[order] / max(cc.sum(), 1.0), width=0.4, label="current", color="#d62728")
        ax.set_xticks(x, [labels[i][:12] for i in order], rotation=45, ha="right", fontsize=7)
        ax.set(ylabel="share")
    ax.set_title(name, fontsize=10)
    ax.legend(fontsize=7)
    return _png(fig)


def render(result: dict[str, Any], pairs: dict[str, tuple[Summary, Summary]], *, reference: str,
           current: str) -> str:
    """The report's HTML for a ``monitor drift`` result (its JSON form) and the compared summaries."""
    from jinja2 import Environment, PackageLoader

    from shipyard.evaluation.reports.html import fmt

    plots = {name: column_plot(name, *pair) for name, pair in list(pairs.items())[:MAX_PLOTS]}
    env = Environment(loader=PackageLoader("shipyard.monitoring", "templates"), autoescape=True)
    env.filters["num"] = fmt
    return env.get_template("drift.html.j2").render(result=result, plots=plots, reference=reference,
                                                    current=current)


def write(path: Path, html: str) -> None:
    """Write the report atomically (a crash never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
