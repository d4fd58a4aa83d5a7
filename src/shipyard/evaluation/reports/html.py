"""The self-contained HTML report (Jinja2 template, plots embedded as base64 PNGs).

Everything a template prints comes from the data, the config or the user's code (category values, column
names, error messages), so HTML templates escape every value; the only markup we add is our own (the
templates themselves and the base64 plot images, which contain no markup characters). The Markdown card
(``environment(markdown=True)``) neutralises ``<`` (no raw HTML once rendered) and ``|`` (no broken tables).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment


def environment(*, markdown: bool = False) -> Environment:
    """HTML templates: every printed value escaped. ``markdown=True``: every printed value through ``md``."""
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=PackageLoader("shipyard.evaluation", "templates"), autoescape=not markdown,
                      finalize=md if markdown else None)
    env.filters["num"] = fmt
    return env


def md(v: Any) -> str:
    """A value for a Markdown template: no raw HTML (``<`` as an entity), no table breaks (``|``, newlines)."""
    text = "" if v is None else str(v)
    return text.replace("<", "&lt;").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.{digits}g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x, digits) for x in v)
    return str(v)


def render_html(report: dict[str, Any]) -> str:
    from shipyard.evaluation.plots import plots
    from shipyard.evaluation.reports.card import configured_fairness_metric

    ev = report["evaluation"]
    if ev.get("fairness") and ev.get("task") == "classification":
        # the run's own config names the metric to lead with (the same value the evaluation records)
        ev = {**ev, "fairness_metric": configured_fairness_metric(report.get("config") or {})}
    return environment().get_template("report.html.j2").render(r=report, ev=ev, plots=plots(ev))
