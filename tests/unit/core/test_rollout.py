"""The rollout state machine, state x event, per strategy (core/rollout.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shipyard.core.rollout import (
    FINAL,
    Event,
    IllegalTransitionError,
    Notice,
    RolloutSpec,
    RolloutState,
    State,
    Strategy,
    routing_for,
    start,
    transition,
    weights,
)

CANARY = RolloutSpec(Strategy.CANARY, (5, 25, 50, 100), pause_at=(50,), failure_limit=2, max_inconclusive=3)


def st(state: State = State.PROGRESSING, strategy: Strategy = Strategy.CANARY, step: int = 0, **kw) -> RolloutState:
    return RolloutState(state, strategy, stable=1, candidate=2, step=step, **kw)


P, PA = State.PROGRESSING, State.PAUSED

# (strategy, state, step, failures, inconclusive, event) -> (state, step, notice, weights) or an error
TABLE = [
    # canary, progressing
    (Strategy.CANARY, P, 0, 0, 0, Event.ANALYSIS_PASSED, (P, 1, Notice.STEP, {1: 75, 2: 25})),
    (Strategy.CANARY, P, 1, 0, 0, Event.ANALYSIS_PASSED, (PA, 2, Notice.PAUSE, {1: 50, 2: 50})),  # pause_at 50
    (Strategy.CANARY, P, 2, 0, 0, Event.ANALYSIS_PASSED, (State.PROMOTED, 2, Notice.PROMOTION, {2: 100})),
    (Strategy.CANARY, P, 0, 0, 0, Event.ANALYSIS_FAILED, (P, 0, Notice.HOLD, {1: 95, 2: 5})),
    (Strategy.CANARY, P, 1, 1, 0, Event.ANALYSIS_FAILED, (State.ROLLED_BACK, 1, Notice.ROLLBACK, {1: 100})),
    (Strategy.CANARY, P, 0, 0, 0, Event.ANALYSIS_INCONCLUSIVE, (P, 0, Notice.HOLD, {1: 95, 2: 5})),
    (Strategy.CANARY, P, 0, 0, 2, Event.ANALYSIS_INCONCLUSIVE, (PA, 0, Notice.PAUSE, {1: 95, 2: 5})),
    (Strategy.CANARY, P, 0, 0, 0, Event.PAUSE, (PA, 0, Notice.PAUSE, {1: 95, 2: 5})),
    (Strategy.CANARY, P, 0, 0, 0, Event.RESUME, IllegalTransitionError),
    (Strategy.CANARY, P, 0, 0, 0, Event.PROMOTE, (P, 1, Notice.STEP, {1: 75, 2: 25})),
    (Strategy.CANARY, P, 0, 0, 0, Event.PROMOTE_FULL, (State.PROMOTED, 0, Notice.PROMOTION, {2: 100})),
    (Strategy.CANARY, P, 0, 0, 0, Event.ABORT, (State.ABORTED, 0, Notice.ABORT, {1: 100})),
    (Strategy.CANARY, P, 0, 0, 0, Event.SMOKE_PASSED, IllegalTransitionError),
    (Strategy.CANARY, P, 0, 0, 0, Event.SMOKE_FAILED, IllegalTransitionError),
    (Strategy.CANARY, P, 0, 0, 0, Event.KEEP_PREVIOUS_EXPIRED, IllegalTransitionError),
    (Strategy.CANARY, P, 0, 0, 0, Event.WINNER_FOUND, IllegalTransitionError),
    # canary, paused: analysis never advances, a failure still counts and rolls back
    (Strategy.CANARY, PA, 2, 0, 0, Event.ANALYSIS_PASSED, (PA, 2, Notice.HOLD, {1: 50, 2: 50})),
    (Strategy.CANARY, PA, 2, 1, 0, Event.ANALYSIS_FAILED, (State.ROLLED_BACK, 2, Notice.ROLLBACK, {1: 100})),
    (Strategy.CANARY, PA, 2, 0, 5, Event.ANALYSIS_INCONCLUSIVE, (PA, 2, Notice.HOLD, {1: 50, 2: 50})),
    (Strategy.CANARY, PA, 2, 0, 0, Event.PAUSE, IllegalTransitionError),
    (Strategy.CANARY, PA, 2, 0, 4, Event.RESUME, (P, 2, Notice.RESUME, {1: 50, 2: 50})),
    (Strategy.CANARY, PA, 2, 0, 0, Event.PROMOTE, (State.PROMOTED, 2, Notice.PROMOTION, {2: 100})),
    (Strategy.CANARY, PA, 1, 0, 0, Event.PROMOTE, (PA, 2, Notice.PAUSE, {1: 50, 2: 50})),
    (Strategy.CANARY, PA, 2, 0, 0, Event.ABORT, (State.ABORTED, 2, Notice.ABORT, {1: 100})),
    # blue-green: smoke at step 0 (candidate shadowed), switch at step 1 (stable on standby)
    (Strategy.BLUEGREEN, P, 0, 0, 0, Event.SMOKE_PASSED, (P, 1, Notice.STEP, {2: 100})),
    (Strategy.BLUEGREEN, P, 0, 0, 0, Event.SMOKE_FAILED, (State.ROLLED_BACK, 0, Notice.ROLLBACK, {1: 100})),
    (Strategy.BLUEGREEN, P, 1, 0, 0, Event.SMOKE_PASSED, IllegalTransitionError),
    (Strategy.BLUEGREEN, P, 1, 0, 0, Event.ANALYSIS_PASSED, (P, 1, Notice.HOLD, {2: 100})),
    (Strategy.BLUEGREEN, P, 1, 1, 0, Event.ANALYSIS_FAILED, (State.ROLLED_BACK, 1, Notice.ROLLBACK, {1: 100})),
    (Strategy.BLUEGREEN, P, 1, 0, 0, Event.KEEP_PREVIOUS_EXPIRED, (State.PROMOTED, 1, Notice.PROMOTION, {2: 100})),
    (Strategy.BLUEGREEN, P, 0, 0, 0, Event.KEEP_PREVIOUS_EXPIRED, IllegalTransitionError),
    (Strategy.BLUEGREEN, P, 0, 0, 0, Event.PROMOTE, IllegalTransitionError),
    (Strategy.BLUEGREEN, P, 1, 0, 0, Event.PROMOTE, (State.PROMOTED, 1, Notice.PROMOTION, {2: 100})),
    (Strategy.BLUEGREEN, PA, 0, 0, 0, Event.SMOKE_PASSED, IllegalTransitionError),
    # shadow: never advances on analysis; promotion is manual
    (Strategy.SHADOW, P, 0, 0, 0, Event.ANALYSIS_PASSED, (P, 0, Notice.HOLD, {1: 100})),
    (Strategy.SHADOW, P, 0, 1, 0, Event.ANALYSIS_FAILED, (State.ROLLED_BACK, 0, Notice.ROLLBACK, {1: 100})),
    (Strategy.SHADOW, P, 0, 0, 0, Event.PROMOTE, (State.PROMOTED, 0, Notice.PROMOTION, {2: 100})),
    (Strategy.SHADOW, P, 0, 0, 0, Event.WINNER_FOUND, IllegalTransitionError),
    # ab: a fixed split; a winner promotes only with ab_promote
    (Strategy.AB, P, 0, 0, 0, Event.ANALYSIS_PASSED, (P, 0, Notice.HOLD, {1: 50, 2: 50})),
    (Strategy.AB, P, 0, 0, 0, Event.WINNER_FOUND, (P, 0, Notice.HOLD, {1: 50, 2: 50})),
    (Strategy.AB, P, 0, 0, 0, Event.PROMOTE, (State.PROMOTED, 0, Notice.PROMOTION, {2: 100})),
    (Strategy.AB, P, 0, 0, 0, Event.SMOKE_PASSED, IllegalTransitionError),
]


@pytest.mark.parametrize(("strategy", "state", "step", "failures", "inconclusive", "event", "expected"), TABLE)
def test_transition_table(strategy, state, step, failures, inconclusive, event, expected):
    spec = replace(CANARY, strategy=strategy)
    before = st(state, strategy, step, failures=failures, inconclusive=inconclusive)
    if expected is IllegalTransitionError:
        with pytest.raises(IllegalTransitionError) as err:
            transition(spec, before, event)
        assert event.value in str(err.value) and state.value in str(err.value)
        return
    tr = transition(spec, before, event, reason="why")
    new_state, new_step, notice, w = expected
    assert (tr.after.state, tr.after.step, tr.notice) == (new_state, new_step, notice)
    assert weights(tr.after, spec) == w
    assert ("promote_stage" in tr.actions) == (new_state is State.PROMOTED)


@pytest.mark.parametrize("final", sorted(FINAL))
@pytest.mark.parametrize("event", list(Event))
def test_final_states_refuse_every_event(final, event):
    with pytest.raises(IllegalTransitionError, match="finished"):
        transition(CANARY, st(final), event)


def test_every_live_state_and_event_is_decided_for_every_strategy():
    for strategy in Strategy:
        for state in (P, PA):
            for step in (0, 1):
                for event in Event:
                    try:
                        tr = transition(replace(CANARY, strategy=strategy), st(state, strategy, step), event)
                    except IllegalTransitionError:
                        continue
                    assert tr.after.state in State


def test_counters():
    spec = replace(CANARY, failure_limit=3)
    s = st()
    s = transition(spec, s, Event.ANALYSIS_FAILED).after
    s = transition(spec, s, Event.ANALYSIS_FAILED).after
    assert s.failures == 2 and s.state is P
    s = transition(spec, s, Event.ANALYSIS_PASSED).after  # a pass resets the count and advances
    assert (s.failures, s.step) == (0, 1)
    tr = transition(spec, replace(s, failures=2), Event.ANALYSIS_FAILED, "error_rate < 0.01")
    assert tr.after.state is State.ROLLED_BACK and "failure_limit 3" in (tr.after.reason or "")


def test_routing_tables():
    spec = replace(CANARY, strategy=Strategy.BLUEGREEN)
    smoke = routing_for(st(strategy=Strategy.BLUEGREEN), spec)
    assert smoke.served == (1,) and smoke.shadow == (2,)
    switched = routing_for(st(strategy=Strategy.BLUEGREEN, step=1), spec)
    assert switched.served == (2,) and switched.shadow == (1,)  # the old version stays loaded (standby)
    ab = routing_for(st(strategy=Strategy.AB), replace(spec, strategy=Strategy.AB, ab_split=30))
    assert {r.version: r.weight for r in ab.routes} == {1: 70, 2: 30} and ab.sticky_header == "x-user"
    assert routing_for(st(State.ROLLED_BACK), CANARY).served == (1,)
    assert routing_for(st(State.PROMOTED), CANARY).served == (2,)


def test_start_pauses_on_a_first_pause_at_step():
    assert start(replace(CANARY, pause_at=(5,)), 1, 2).state is PA
    assert start(CANARY, 1, 2).state is P
