"""The gate table as Markdown, for a CI job summary (``$GITHUB_STEP_SUMMARY``) or a pull-request comment."""

from __future__ import annotations

from typing import Any


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_summary(result: Any) -> str:
    """One run's outcome: model, version and stage, the gate table, or why the run stopped before gating."""
    ok = result.status == "succeeded"
    head = f"### shipyard: {_cell(result.model)} {'passed' if ok else result.status}\n\n"
    lines = [head]
    if result.version is not None:
        lines.append(f"Version **{_cell(result.model)}:{result.version}**, stage `{result.stage}`, "
                     f"run `{result.run_id}`.\n\n")
    if result.validation is not None:
        v = result.validation
        lines.append(f"Data validation failed: `{_cell(v.get('dataset'))}` against `{_cell(v.get('previous'))}`; "
                     "nothing was trained or registered.\n\n")
        if v.get("violations"):
            lines.append("| column | check | failing | expected |\n|---|---|---:|---|\n")
            lines += [f"| {_cell(x['column'])} | {_cell(x['check'])} | {x['failing']} | {_cell(x['expected'])} |\n"
                      for x in v["violations"]]
            lines.append("\n")
    if result.gates:
        lines.append("| gate | value | threshold | result | note |\n|---|---:|---:|---|---|\n")
        for g in result.gates:
            value = "-" if g.get("value") is None else f"{g['value']:.4g}"
            mark = "✅ pass" if g.get("passed") else "❌ **FAIL**"
            note = _cell(g.get("note", ""))
            lines.append(f"| `{_cell(g['gate'])}` | {value} | {g['threshold']:g} | {mark} | {note} |\n")
        lines.append("\n")
    elif result.error and result.validation is None:
        lines.append(f"The run failed: {_cell(result.error)}\n\n")
    return "".join(lines)
