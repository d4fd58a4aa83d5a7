"""Model cards (Markdown + HTML) from a registered version: intended use, data, metrics, slices,
fairness, limitations and lineage (after Mitchell et al., "Model Cards for Model Reporting", 2019)."""

from __future__ import annotations

from typing import Any

FAIRNESS_FLAG = 0.1   # a parity/odds difference above this is listed as a limitation
ROBUSTNESS_FLAG = 0.02
RATIO_FLAG = 0.8  # a parity/odds ratio below this (the "four-fifths rule") is listed as a limitation
SMALL_SLICE = 30  # evaluations without min_group_size (older versions)


def limitations(mv: dict[str, Any]) -> list[str]:
    """Plain sentences derived from the evaluation, so the card says what the numbers imply."""
    ev = mv.get("evaluation") or {}
    prov = mv.get("provenance") or {}
    out = [f"Evaluated on a held-out split of {ev.get('test_rows', '?')} rows of the training data "
           f"({', '.join(d['ref'] for d in prov.get('datasets', [])) or 'unknown dataset'}); performance on "
           "data from another period or population may differ. Monitor drift after deployment."]
    small_n = int(ev.get("min_group_size") or SMALL_SLICE)
    for column, fair in (ev.get("fairness") or {}).items():
        for k in ("demographic_parity_difference", "equalized_odds_difference", "selection_rate_gap",
                  "accuracy_group_gap"):
            v = fair.get(k)
            if _number(v) and v > FAIRNESS_FLAG:
                out.append(f"{k.replace('_', ' ')} across {column} is {v:.3f} (> {FAIRNESS_FLAG}): outcomes differ "
                           f"between groups; review before use in decisions about people.")
        for k in ("demographic_parity_ratio", "equalized_odds_ratio"):
            v = fair.get(k)
            if _number(v) and v < RATIO_FLAG:
                out.append(f"{k.replace('_', ' ')} across {column} is {v:.3f} (below {RATIO_FLAG}): outcomes differ "
                           f"between groups; review before use in decisions about people.")
        if fair.get("note"):
            out.append(f"Fairness across {column} could not be measured: {fair['note']}.")
        small = [(g["group"], g["n"]) for g in fair.get("small_groups") or []]
        if small:
            out.append(f"Groups of {column} with fewer than {fair.get('min_group_size', small_n)} test rows "
                       f"({_listing(small)}) are left out of its fairness metrics.")
    for column, rows in (ev.get("slices") or {}).items():
        small = [(r["value"], r["n"]) for r in rows if r.get("too_small", r["n"] < small_n)]
        if small:
            out.append(f"Slices of {column} with fewer than {small_n} test rows ({_listing(small)}) have "
                       "no reliable metrics.")
    for kind, r in (ev.get("robustness") or {}).items():
        if r.get("error"):
            why = str(r["error"]).rstrip(".")
            out.append(f"The model fails under {kind} perturbation (setting {r['setting']}): {why}.")
        elif r.get("drop") is not None and r["drop"] > ROBUSTNESS_FLAG:
            out.append(f"{r['metric']} degrades by {r['drop']:.3f} under {kind} perturbation "
                       f"(setting {r['setting']}).")
    per_class = ev.get("per_class") or {}
    classes = prov.get("classes") or []
    for i, (r, support) in enumerate(zip(per_class.get("recall") or [], per_class.get("support") or [],
                                         strict=False)):
        if support and _number(r) and r < 0.5:
            name = classes[i] if i < len(classes) else i
            out.append(f"Class {name!s} is recognised in only {r:.0%} of its {support} test rows (recall); "
                       "predictions of the other classes absorb it.")
    failed = [g["gate"] for g in ev.get("gates", []) if not g.get("passed")]
    if failed:
        out.append("Failed gates: " + "; ".join(failed) + ".")
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _listing(items: list[tuple[Any, Any]], limit: int = 10) -> str:
    text = ", ".join(f"{g} n={n}" for g, n in items[:limit])
    return text + (f", … and {len(items) - limit} more" if len(items) > limit else "")


def configured_fairness_metric(config: dict[str, Any]) -> str:
    """``evaluation.fairness.metric`` of a config dict (the default when it is not set)."""
    from shipyard.evaluation.names import FAIRNESS_METRICS

    fair = ((config or {}).get("evaluation") or {}).get("fairness") or {}
    return str(fair.get("metric") or FAIRNESS_METRICS[0])


def card_context(mv: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    ev = mv.get("evaluation") or {}
    prov = mv.get("provenance") or {}
    task = ev.get("task") or prov.get("task") or "unknown"
    target = prov.get("target") or (config.get("data") or {}).get("target")
    positive = prov.get("positive")
    if task == "classification":
        use = (f"Estimates the probability that {target} is '{positive}' for one record of the input columns "
               "below; intended as decision support with a human in the loop, not as the sole basis of a decision.")
    elif task == "multiclass":
        classes = prov.get("classes") or []
        use = (f"Estimates the probability of each class of {target} ({', '.join(map(str, classes))}; served as "
               "class indices 0..k-1 in this order) for one record of the input columns below; intended as decision "
               "support with a human in the loop, not as the sole basis of a decision.")
    else:
        use = f"Predicts {target} from the input columns below; intended for estimation, with monitoring."
    if ev.get("fairness") and task == "classification" and not ev.get("fairness_metric"):
        ev = {**ev, "fairness_metric": configured_fairness_metric(config)}
    headline = ev.get("headline") or []
    metrics = ev.get("metrics") or {}
    return {"mv": mv, "ev": ev, "prov": prov, "task": task, "target": target, "intended_use": use,
            "description": mv.get("description") or "",
            "headline": [(m, metrics.get(m), (ev.get("ci") or {}).get(m)) for m in headline],
            "other_metrics": {k: v for k, v in metrics.items() if k not in headline},
            "limitations": limitations(mv) + _unverified(mv), "evidence": evidence_text(mv.get("evidence") or {})}


def evidence_text(ev: dict[str, Any]) -> str:
    """Which gate evidence the version has and whether its MAC verifies (registry/evidence.py)."""
    source = ev.get("source") or "none"
    where = (f" (run {ev['run_id']})" if ev.get("run_id") else "") + \
            (f" on {ev['dataset']['ref']}" if isinstance(ev.get("dataset"), dict) else "")
    passed = ev.get("gates_passed")
    gates = "" if passed is None else ("; gates passed" if passed else "; gates FAILED")
    mac = "MAC verified by the registry" if ev.get("verified") else f"NOT verified: {ev.get('reason', 'no evidence')}"
    return f"{source}{where}{gates}; {mac}"


def _unverified(mv: dict[str, Any]) -> list[str]:
    ev = mv.get("evidence") or {}
    if ev.get("verified") or not mv.get("evaluation"):
        return []
    return ["The evaluation on this card was not evaluated by shipyard with verified evidence "
            f"({ev.get('source') or 'none'}): treat its numbers as the uploader's claims."]


def render_card(mv: dict[str, Any], config: dict[str, Any]) -> tuple[str, str]:
    """(Markdown, HTML) of the card for one version (``ModelVersion.to_dict()``)."""
    from shipyard.evaluation.reports.html import environment

    ctx = card_context(mv, config)
    return (environment(markdown=True).get_template("card.md.j2").render(**ctx),
            environment().get_template("card.html.j2").render(**ctx))
