"""The self-contained HTML report (Jinja2 template, plots embedded as base64 PNGs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment


def environment() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("shipyard.evaluation", "templates"), autoescape=select_autoescape())
    env.filters["num"] = fmt
    return env


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x, digits) for x in v)
    return str(v)


def render_html(report: dict[str, Any]) -> str:
    from shipyard.evaluation.plots import plots

    return environment().get_template("report.html.j2").render(r=report, ev=report["evaluation"],
                                                                plots=plots(report["evaluation"]))
