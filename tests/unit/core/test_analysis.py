"""Rollout analysis checks: parsing (through core/gates.py) and per-version verdicts (core/analysis.py)."""

from __future__ import annotations

import pytest

from shipyard.core.analysis import Verdict, evaluate, parse_checks
from shipyard.core.gates import GateSyntaxError, parse
from shipyard.errors import InvalidInputError


def test_parse_check_syntax():
    a, b, c = parse_checks(["error_rate < 0.01", "p99_latency_ms < 1.5 x stable", "prediction_psi < 0.2 (dry_run)"])
    assert (a.metric, a.op, a.bound, a.x_stable, a.dry_run) == ("error_rate", "<", 0.01, False, False)
    assert (b.bound, b.x_stable) == (1.5, True)
    assert c.dry_run and not c.x_stable
    assert parse_checks(["accuracy >= 0.8 x stable (dry_run)"])[0].dry_run


@pytest.mark.parametrize(("text", "field", "needle"), [
    ("error_rate <", "deploy.analysis[0]", "a number"),
    ("error_rate < 0.1 x champion", "deploy.analysis[0]", "'stable' after 'x'"),
    ("error_rate < 0.1 (ci)", "deploy.analysis[0]", "dry_run"),
    ("error_rate < 0.1 $", "deploy.analysis[0]", "unexpected character"),
    ("latency < 5", "deploy.analysis[0]", "known: requests, error_rate"),
])
def test_parse_check_errors_name_the_field(text, field, needle):
    with pytest.raises(InvalidInputError) as err:
        parse_checks([text])
    assert err.value.field is not None and err.value.field.startswith(field)
    assert needle in str(err.value)


def test_gates_keep_their_grammar():
    with pytest.raises(GateSyntaxError):
        parse("roc_auc >= 0.8 x stable")
    assert parse("roc_auc vs champion >= -0.01 (ci)").ci


CHECKS = parse_checks(["error_rate < 0.05", "p99_latency_ms < 1.5 x stable", "prediction_psi < 0.2 (dry_run)"])


def m(requests, error_rate, p99, psi=None):
    return {"requests": requests, "error_rate": error_rate, "p99_latency_ms": p99, "prediction_psi": psi}


@pytest.mark.parametrize(("stable", "cand", "verdict"), [
    (m(900, 0.0, 10.0), m(100, 0.01, 12.0, 0.5), Verdict.PASS),  # the dry-run psi fails but never decides
    (m(900, 0.0, 10.0), m(100, 0.30, 12.0), Verdict.FAIL),
    (m(900, 0.0, 10.0), m(100, 0.0, 16.0), Verdict.FAIL),  # 16 >= 1.5 x 10
    (m(900, 0.0, 10.0), m(99, 0.90, 99.0), Verdict.INCONCLUSIVE),  # too little data holds, never fails
    (m(900, 0.0, None), m(100, 0.0, 12.0), Verdict.INCONCLUSIVE),  # no stable value for 'x stable'
    (m(900, 0.0, 10.0), m(100, None, 12.0), Verdict.INCONCLUSIVE),
])
def test_evaluate(stable, cand, verdict):
    a = evaluate(CHECKS, {1: stable, 2: cand}, stable=1, candidate=2, min_requests=100)
    assert a.verdict is verdict
    rows = {(r.check, r.role): r for r in a.results}
    assert len(rows) == 6
    p99 = rows[("p99_latency_ms < 1.5 x stable", "candidate")]
    if stable["p99_latency_ms"] is not None:
        assert p99.threshold == pytest.approx(15.0)
    assert rows[("prediction_psi < 0.2 (dry_run)", "candidate")].dry_run


def test_no_checks_pass_after_min_requests():
    assert evaluate((), {2: {"requests": 5}}, 1, 2, 5).verdict is Verdict.PASS
    assert evaluate((), {}, 1, 2, 5).verdict is Verdict.INCONCLUSIVE


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Table II example (h): 56/70 vs 48/80 -> difference 0.2, 95% CI 0.0524 to 0.3339
    from shipyard.core.analysis import proportion_difference

    d, lo, hi = proportion_difference(48, 80, 56, 70)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)
    assert proportion_difference(0, 0, 1, 2) is None


def test_mean_difference():
    from shipyard.core.analysis import mean_difference

    d, lo, hi = mean_difference([1.0, 1.2, 0.8, 1.1] * 10, [0.5, 0.6, 0.4, 0.55] * 10)
    assert d < 0 and hi < 0
    assert mean_difference([1.0], [2.0, 3.0]) is None
