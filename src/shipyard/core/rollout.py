"""The rollout state machine: (spec, state, event) -> new state, routing and actions. Pure, no I/O.

States: ``progressing``, ``paused`` (live), ``promoted``, ``rolled_back``, ``aborted`` (final).
``rollout.controller`` turns analyses, smoke tests, timers and operator commands into ``Event``s, calls
``transition`` and persists the result (state, weights, audit event and routing in one transaction),
then performs the ``actions`` (notifications, stage bookkeeping). ``routing_for`` derives the endpoint's
routing table from the state alone, so a restarted controller re-applies exactly what was decided.

Per strategy (``step`` indexes ``spec.steps`` for canary; 0 = smoke, 1 = switched for blue-green):

- canary: the candidate gets ``steps[step]`` percent; a passed analysis moves to the next step (a step
  listed in ``pause_at`` pauses on arrival until ``promote``); reaching 100 (or passing the last step)
  is the promotion.
- bluegreen: step 0 shadows the candidate while it is smoke-tested; a passed smoke test switches 100% at
  once with the old version kept loaded as a shadow (standby); ``keep_previous`` expiring promotes.
- shadow: stable answers everything, the candidate gets a mirrored copy; promotion is manual.
- ab: a fixed sticky split; ``winner_found`` promotes only when ``spec.ab_promote``.

In every live state ``failure_limit`` consecutive failed analyses roll back (a pause never disables
that), ``max_inconclusive`` consecutive intervals without enough data pause and notify.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from shipyard.core import routing
from shipyard.core.routing import RoutingTable
from shipyard.errors import ConflictError


class State(StrEnum):
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


LIVE = frozenset({State.PROGRESSING, State.PAUSED})
FINAL = frozenset({State.PROMOTED, State.ROLLED_BACK, State.ABORTED})


class Strategy(StrEnum):
    CANARY = "canary"
    BLUEGREEN = "bluegreen"
    SHADOW = "shadow"
    AB = "ab"


class Event(StrEnum):
    ANALYSIS_PASSED = "analysis_passed"
    ANALYSIS_FAILED = "analysis_failed"
    ANALYSIS_INCONCLUSIVE = "analysis_inconclusive"
    SMOKE_PASSED = "smoke_passed"
    SMOKE_FAILED = "smoke_failed"
    KEEP_PREVIOUS_EXPIRED = "keep_previous_expired"
    WINNER_FOUND = "winner_found"  # ab: the interval of candidate - stable excludes zero in the candidate's favour
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"  # canary: the next step; other strategies: all the way
    PROMOTE_FULL = "promote_full"
    ABORT = "abort"


MANUAL = frozenset({Event.PAUSE, Event.RESUME, Event.PROMOTE, Event.PROMOTE_FULL, Event.ABORT})


class Notice(StrEnum):
    """What a transition tells people (webhooks) and the audit log (``rollout.<notice>``)."""

    START = "start"
    STEP = "step"
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    ABORT = "abort"
    HOLD = "hold"  # nothing visible changed (counters only): audited, not notified


class IllegalTransitionError(ConflictError):
    """The event does not apply to the rollout's state (e.g. resuming a promoted rollout)."""


@dataclass(frozen=True, slots=True)
class RolloutSpec:
    """How a rollout proceeds (from ``deploy:`` in shipyard.yaml, validated by ``rollout.spec``)."""

    strategy: Strategy = Strategy.CANARY
    steps: tuple[int, ...] = (5, 25, 50, 100)
    pause_at: tuple[int, ...] = ()
    failure_limit: int = 2
    max_inconclusive: int = 10
    ab_split: int = 50  # candidate's percent in an A/B rollout
    ab_promote: bool = False


@dataclass(frozen=True, slots=True)
class RolloutState:
    state: State
    strategy: Strategy
    stable: int
    candidate: int
    step: int = 0
    failures: int = 0
    inconclusive: int = 0
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    before: RolloutState
    after: RolloutState
    event: Event
    notice: Notice
    actions: tuple[str, ...] = field(default=())  # "promote_stage" when the candidate was promoted

    @property
    def routing_changed(self) -> bool:
        return weights(self.before) != weights(self.after) or shadows(self.before) != shadows(self.after)


def start(spec: RolloutSpec, stable: int, candidate: int) -> RolloutState:
    """The state a new rollout begins in (canary paused at once when its first step is a pause_at step)."""
    st = RolloutState(State.PROGRESSING, spec.strategy, stable, candidate)
    if spec.strategy is Strategy.CANARY and spec.steps[0] in spec.pause_at:
        return replace(st, state=State.PAUSED, reason=f"pause_at {spec.steps[0]}%: waiting for `rollout promote`")
    return st


def candidate_weight(st: RolloutState, spec: RolloutSpec | None = None) -> int:
    """The candidate's answering percent in ``st``."""
    if st.state is State.PROMOTED:
        return 100
    if st.state in (State.ROLLED_BACK, State.ABORTED):
        return 0
    if st.strategy is Strategy.CANARY:
        steps = (spec or RolloutSpec()).steps
        return steps[min(st.step, len(steps) - 1)]
    if st.strategy is Strategy.BLUEGREEN:
        return 100 if st.step >= 1 else 0
    if st.strategy is Strategy.AB:
        return (spec or RolloutSpec()).ab_split
    return 0


def weights(st: RolloutState, spec: RolloutSpec | None = None) -> dict[int, int]:
    """Answering weights (version -> percent), zero weights left out."""
    w = candidate_weight(st, spec)
    out = {st.stable: 100 - w, st.candidate: w}
    return {v: p for v, p in out.items() if p > 0}


def shadows(st: RolloutState) -> tuple[int, ...]:
    """Versions loaded but not answering: a shadowed candidate, or blue-green's standby."""
    if st.state not in LIVE:
        return ()
    if st.strategy is Strategy.SHADOW or (st.strategy is Strategy.BLUEGREEN and st.step == 0):
        return (st.candidate,)
    if st.strategy is Strategy.BLUEGREEN:
        return (st.stable,)
    return ()


def routing_for(st: RolloutState, spec: RolloutSpec, sticky_header: str | None = None) -> RoutingTable:
    """The endpoint's routing table for ``st`` (A/B keeps a sticky header: a user stays on one variant)."""
    w = weights(st, spec)
    raw: dict[str, Any] = {"routes": [{"version": v, "weight": p} for v, p in w.items()],
                           "shadow": list(shadows(st)), "sticky_header": sticky_header}
    if st.strategy is Strategy.AB and st.state in LIVE and raw["sticky_header"] is None:
        raw["sticky_header"] = "x-user"
    return routing.parse(raw)


def _illegal(st: RolloutState, event: Event, why: str) -> IllegalTransitionError:
    return IllegalTransitionError(f"rollout is {st.state.value} ({st.strategy.value}, step {st.step}): "
                                  f"cannot {event.value}; {why}", field="state", value=st.state.value,
                                  expected=why)


def _advance(spec: RolloutSpec, st: RolloutState, event: Event) -> Transition:
    """Canary: the next step (paused on arrival at a pause_at step), or promoted after the last."""
    nxt = st.step + 1
    after = replace(st, state=State.PROGRESSING, step=nxt, failures=0, inconclusive=0, reason=None)
    if nxt < len(spec.steps) and spec.steps[nxt] in spec.pause_at:
        after = replace(after, state=State.PAUSED,
                        reason=f"pause_at {spec.steps[nxt]}%: waiting for `rollout promote`")
        return Transition(st, after, event, Notice.PAUSE)
    if nxt >= len(spec.steps) or spec.steps[nxt] >= 100:
        after = replace(st, state=State.PROMOTED, failures=0, inconclusive=0, reason=None)
        return Transition(st, after, event, Notice.PROMOTION, ("promote_stage",))
    return Transition(st, after, event, Notice.STEP)


def _rollback(st: RolloutState, event: Event, reason: str) -> Transition:
    after = replace(st, state=State.ROLLED_BACK, reason=reason)
    return Transition(st, after, event, Notice.ROLLBACK)


def transition(spec: RolloutSpec, st: RolloutState, event: Event, reason: str | None = None) -> Transition:
    """Apply ``event`` to ``st``.

    Args:
        spec: the rollout's spec.
        st: its current state.
        event: what happened.
        reason: why (a manual command's ``--reason``, an analysis' note); kept on pauses and endings.

    Returns:
        The transition: the new state, what to tell people, and the actions to take after persisting it.

    Raises:
        IllegalTransitionError: the event does not apply (a final rollout, resuming a running one, ...).
    """
    if st.state in FINAL:
        raise _illegal(st, event, f"the rollout is finished ({st.state.value}); deploy again to start another")
    s, paused = st.strategy, st.state is State.PAUSED
    if event is Event.ABORT:
        return Transition(st, replace(st, state=State.ABORTED, reason=reason or "aborted"), event, Notice.ABORT)
    if event is Event.PAUSE:
        if paused:
            raise _illegal(st, event, "it is already paused (`rollout resume` or `rollout promote`)")
        return Transition(st, replace(st, state=State.PAUSED, reason=reason or "paused"), event, Notice.PAUSE)
    if event is Event.RESUME:
        if not paused:
            raise _illegal(st, event, "only a paused rollout resumes")
        return Transition(st, replace(st, state=State.PROGRESSING, inconclusive=0, reason=None), event, Notice.RESUME)
    if event is Event.PROMOTE_FULL or (event is Event.PROMOTE and s is not Strategy.CANARY):
        if s is Strategy.BLUEGREEN and st.step == 0:
            raise _illegal(st, event, "a blue-green candidate is promoted after its smoke test passes")
        after = replace(st, state=State.PROMOTED, failures=0, inconclusive=0, reason=reason)
        return Transition(st, after, event, Notice.PROMOTION, ("promote_stage",))
    if event is Event.PROMOTE:
        return _advance(spec, st, event)
    if event is Event.ANALYSIS_FAILED:
        failures = st.failures + 1
        if failures >= spec.failure_limit:
            return _rollback(st, event, f"{failures} consecutive failed analyses (failure_limit "
                                        f"{spec.failure_limit}): {reason or 'analysis failed'}")
        return Transition(st, replace(st, failures=failures, inconclusive=0), event, Notice.HOLD)
    if event is Event.ANALYSIS_INCONCLUSIVE:
        n = st.inconclusive + 1
        if not paused and n >= spec.max_inconclusive:
            why = (f"{n} consecutive intervals without enough data (max_inconclusive {spec.max_inconclusive}): "
                   f"{reason or 'inconclusive'}; check traffic, then `rollout resume`")
            return Transition(st, replace(st, state=State.PAUSED, inconclusive=n, reason=why), event, Notice.PAUSE)
        return Transition(st, replace(st, inconclusive=n), event, Notice.HOLD)
    if event is Event.ANALYSIS_PASSED:
        held = replace(st, failures=0, inconclusive=0)
        if paused or s is not Strategy.CANARY:  # only canary moves on analysis alone
            return Transition(st, held, event, Notice.HOLD)
        return _advance(spec, held, event)
    if event in (Event.SMOKE_PASSED, Event.SMOKE_FAILED):
        if s is not Strategy.BLUEGREEN or st.step != 0:
            raise _illegal(st, event, "smoke tests belong to a blue-green rollout before its switch")
        if event is Event.SMOKE_FAILED:
            return _rollback(st, event, f"smoke test failed: {reason or 'no detail'}")
        if paused:
            raise _illegal(st, event, "the rollout is paused (`rollout resume` first)")
        return Transition(st, replace(st, step=1, failures=0, inconclusive=0), event, Notice.STEP)
    if event is Event.KEEP_PREVIOUS_EXPIRED:
        if s is not Strategy.BLUEGREEN or st.step != 1:
            raise _illegal(st, event, "keep_previous applies to a blue-green rollout after its switch")
        after = replace(st, state=State.PROMOTED, reason=None)
        return Transition(st, after, event, Notice.PROMOTION, ("promote_stage",))
    if event is Event.WINNER_FOUND:
        if s is not Strategy.AB:
            raise _illegal(st, event, "a winner is found by an A/B rollout")
        if spec.ab_promote and not paused:
            after = replace(st, state=State.PROMOTED, reason=reason)
            return Transition(st, after, event, Notice.PROMOTION, ("promote_stage",))
        return Transition(st, st, event, Notice.HOLD)
    raise _illegal(st, event, "unknown event")  # pragma: no cover - every Event is handled above
