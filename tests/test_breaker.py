"""The MQTT circuit breaker: every edge of the seed's diagram, then a state machine."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
import random

from hypothesis import settings as hypothesis_settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
import pytest

from custom_components.dell_fan_control.breaker import (
    BreakerSettings,
    BreakerSnapshot,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    TransitionCause,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
ROUNDING = 1e-9
SETTINGS = BreakerSettings(
    failure_threshold=3, min_retry_seconds=10, max_retry_seconds=60
)


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ScriptedUniform:
    """Returns the scripted intervals in turn and records the bounds it was asked for."""

    values: list[float]
    bounds: list[tuple[float, float]] = field(default_factory=list)

    def __call__(self, low: float, high: float) -> float:
        self.bounds.append((low, high))
        return self.values.pop(0)


@dataclass
class Harness:
    clock: FakeClock
    uniform: ScriptedUniform
    transitions: list[BreakerTransition]
    breaker: CircuitBreaker

    def edges(self) -> list[tuple[BreakerState, BreakerState, TransitionCause]]:
        return [(t.previous, t.state, t.cause) for t in self.transitions]

    def fail(self, times: int) -> None:
        for _ in range(times):
            assert self.breaker.allow()
            self.breaker.record_failure()


def make(
    settings: BreakerSettings = SETTINGS, intervals: tuple[float, ...] = (20, 40, 30)
) -> Harness:
    clock = FakeClock()
    uniform = ScriptedUniform(list(intervals))
    transitions: list[BreakerTransition] = []
    breaker = CircuitBreaker(
        settings, clock=clock, uniform=uniform, on_transition=transitions.append
    )
    return Harness(clock, uniform, transitions, breaker)


def opened(intervals: tuple[float, ...] = (20, 40, 30)) -> Harness:
    harness = make(intervals=intervals)
    harness.fail(4)
    assert harness.breaker.state is OPEN
    return harness


def test_state_and_cause_values_are_stable() -> None:
    """They are a sensor state and log/diagnostics values."""
    assert [s.value for s in BreakerState] == ["closed", "open", "half_open"]
    assert [c.value for c in TransitionCause] == [
        "failure_threshold",
        "retry_due",
        "trial_succeeded",
        "trial_failed",
        "broker_disconnected",
    ]


def test_starts_closed_and_allows() -> None:
    harness = make()
    assert harness.breaker.allow()
    assert harness.breaker.snapshot() == BreakerSnapshot(
        state=CLOSED,
        successes=0,
        failures=0,
        consecutive_failures=0,
        skipped=0,
        times_opened=0,
        last_transition_at=None,
        next_attempt_at=None,
    )


def test_closed_counts_failures_and_a_success_resets_them() -> None:
    harness = make()
    harness.fail(3)  # threshold 3: not exceeded yet
    harness.breaker.record_success()
    harness.fail(3)
    snapshot = harness.breaker.snapshot()
    assert (snapshot.state, snapshot.consecutive_failures) == (CLOSED, 3)
    assert (snapshot.failures, snapshot.successes) == (6, 1)
    assert harness.transitions == []


def test_opens_when_failures_exceed_the_threshold() -> None:
    harness = make()
    harness.fail(4)
    assert harness.transitions == [
        BreakerTransition(
            previous=CLOSED,
            state=OPEN,
            cause=TransitionCause.FAILURE_THRESHOLD,
            at=1000,
        )
    ]
    assert harness.uniform.bounds == [(10, 60)]
    snapshot = harness.breaker.snapshot()
    assert snapshot.next_attempt_at == 1020
    assert snapshot.last_transition_at == 1000
    assert snapshot.times_opened == 1


def test_threshold_zero_opens_on_the_first_failure() -> None:
    harness = make(BreakerSettings(failure_threshold=0))
    harness.fail(1)
    assert harness.breaker.state is OPEN


def test_open_refuses_and_counts_skipped_until_the_interval() -> None:
    harness = opened()
    harness.clock.now = 1019.9
    assert [harness.breaker.allow() for _ in range(3)] == [False, False, False]
    snapshot = harness.breaker.snapshot()
    assert (snapshot.state, snapshot.skipped) == (OPEN, 3)


def test_interval_elapsed_allows_exactly_one_trial() -> None:
    harness = opened()
    harness.clock.now = 1020
    assert harness.breaker.allow()
    assert harness.breaker.state is HALF_OPEN
    assert harness.transitions[-1] == BreakerTransition(
        previous=OPEN, state=HALF_OPEN, cause=TransitionCause.RETRY_DUE, at=1020
    )
    assert not harness.breaker.allow()  # the trial is outstanding
    snapshot = harness.breaker.snapshot()
    assert (snapshot.skipped, snapshot.next_attempt_at) == (1, None)


def test_trial_success_closes() -> None:
    harness = opened()
    harness.clock.now = 1020
    harness.breaker.allow()
    harness.clock.now = 1021
    harness.breaker.record_success()
    snapshot = harness.breaker.snapshot()
    assert (snapshot.state, snapshot.consecutive_failures) == (CLOSED, 0)
    assert harness.edges()[-1] == (HALF_OPEN, CLOSED, TransitionCause.TRIAL_SUCCEEDED)
    assert snapshot.last_transition_at == 1021
    harness.fail(3)
    assert harness.breaker.state is CLOSED  # the count starts again from zero


def test_trial_failure_reopens_with_a_new_random_interval() -> None:
    harness = opened()
    harness.clock.now = 1020
    harness.breaker.allow()
    harness.breaker.record_failure()
    snapshot = harness.breaker.snapshot()
    assert harness.edges()[-1] == (HALF_OPEN, OPEN, TransitionCause.TRIAL_FAILED)
    assert (snapshot.state, snapshot.times_opened) == (OPEN, 2)
    assert snapshot.next_attempt_at == 1060  # second scripted interval: 40 s
    assert harness.uniform.bounds == [(10, 60), (10, 60)]


def test_late_results_while_open_change_counters_not_state() -> None:
    """Publishes that were in flight when it opened still report."""
    harness = opened()
    harness.breaker.record_failure()
    harness.breaker.record_success()
    snapshot = harness.breaker.snapshot()
    assert (snapshot.state, snapshot.next_attempt_at) == (OPEN, 1020)
    assert (snapshot.failures, snapshot.successes, snapshot.consecutive_failures) == (
        5,
        1,
        0,
    )
    assert len(harness.transitions) == 1


def test_broker_disconnected_opens_at_once() -> None:
    harness = make()
    harness.breaker.on_broker_connection(False)
    assert harness.edges() == [(CLOSED, OPEN, TransitionCause.BROKER_DISCONNECTED)]
    assert harness.breaker.snapshot().next_attempt_at == 1020
    harness.breaker.on_broker_connection(False)  # already open: no second transition
    assert len(harness.transitions) == 1


def test_broker_disconnected_during_the_trial_reopens() -> None:
    harness = opened()
    harness.clock.now = 1020
    harness.breaker.allow()
    harness.breaker.on_broker_connection(False)
    assert harness.edges()[-1] == (HALF_OPEN, OPEN, TransitionCause.BROKER_DISCONNECTED)


def test_broker_connected_allows_a_trial_now() -> None:
    harness = opened()
    harness.clock.now = 1005
    harness.breaker.on_broker_connection(True)
    assert harness.breaker.snapshot().next_attempt_at == 1005
    assert harness.breaker.allow()
    assert harness.breaker.state is HALF_OPEN


def test_broker_connected_never_postpones_a_due_trial() -> None:
    harness = opened()
    harness.clock.now = 1030
    harness.breaker.on_broker_connection(True)
    assert harness.breaker.snapshot().next_attempt_at == 1020


def test_broker_connected_while_closed_changes_nothing() -> None:
    harness = make()
    harness.breaker.on_broker_connection(True)
    assert harness.breaker.snapshot() == make().breaker.snapshot()
    assert harness.transitions == []


def test_hook_sees_the_new_state_already_in_place() -> None:
    seen: list[BreakerSnapshot] = []

    def hook(_: BreakerTransition) -> None:
        seen.append(breaker.snapshot())

    breaker = CircuitBreaker(
        BreakerSettings(failure_threshold=0),
        clock=FakeClock(),
        uniform=ScriptedUniform([15]),
        on_transition=hook,
    )
    breaker.record_failure()
    assert [(s.state, s.next_attempt_at, s.times_opened) for s in seen] == [
        (OPEN, 1015, 1)
    ]


def test_seeded_randomness_is_reproducible_and_within_bounds() -> None:
    def open_times(seed: int) -> list[float]:
        clock = FakeClock()
        breaker = CircuitBreaker(
            SETTINGS, clock=clock, uniform=random.Random(seed).uniform
        )
        waits = []
        for _ in range(50):
            breaker.on_broker_connection(False)
            snapshot = breaker.snapshot()
            assert snapshot.next_attempt_at is not None
            waits.append(snapshot.next_attempt_at - clock.now)
            clock.now = snapshot.next_attempt_at
            assert breaker.allow()
        return waits

    waits = open_times(7)
    assert waits == open_times(7)
    assert all(10 <= wait <= 60 for wait in waits)
    assert len(set(waits)) == len(waits)


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"failure_threshold": -1}, "failure threshold"),
        ({"min_retry_seconds": 0}, "retry interval"),
        ({"min_retry_seconds": 70, "max_retry_seconds": 60}, "retry interval"),
        ({"max_retry_seconds": float("inf")}, "retry interval"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        BreakerSettings(**settings)  # type: ignore[arg-type]


class BreakerMachine(RuleBasedStateMachine):
    """Random operations; each rule checks the diagram's edge for the state it started in."""

    LEGAL_EDGES = frozenset(
        {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (HALF_OPEN, OPEN)}
    )

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.transitions: list[BreakerTransition] = []
        self.calls = {"allowed": 0, "refused": 0, "successes": 0, "failures": 0}
        self.connected_since_open = False

    @initialize(
        threshold=st.integers(0, 4),
        bounds=st.tuples(st.floats(0.1, 50), st.floats(0, 50)),
        seed=st.integers(0, 2**32),
    )
    def start(self, threshold: int, bounds: tuple[float, float], seed: int) -> None:
        low, extra = bounds
        self.settings = BreakerSettings(
            failure_threshold=threshold,
            min_retry_seconds=low,
            max_retry_seconds=low + extra,
        )
        self.breaker = CircuitBreaker(
            self.settings,
            clock=self.clock,
            uniform=random.Random(seed).uniform,
            on_transition=self.record_transition,
        )

    def record_transition(self, transition: BreakerTransition) -> None:
        self.transitions.append(transition)
        if transition.state is OPEN:
            self.connected_since_open = False

    @property
    def snapshot(self) -> BreakerSnapshot:
        return self.breaker.snapshot()

    @rule(seconds=st.floats(0, 80))
    def wait(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule()
    def allow(self) -> None:
        before = self.snapshot
        allowed = self.breaker.allow()
        self.calls["allowed" if allowed else "refused"] += 1
        if before.state is CLOSED:
            assert allowed
            assert self.breaker.state is CLOSED
        elif before.state is OPEN:
            assert before.next_attempt_at is not None
            due = self.clock.now >= before.next_attempt_at
            assert allowed == due
            assert self.breaker.state is (HALF_OPEN if due else OPEN)
        else:
            assert not allowed
            assert self.breaker.state is HALF_OPEN

    @rule()
    def success(self) -> None:
        before = self.snapshot
        self.breaker.record_success()
        self.calls["successes"] += 1
        assert self.snapshot.consecutive_failures == 0
        assert self.breaker.state is (
            CLOSED if before.state is HALF_OPEN else before.state
        )

    @rule()
    def failure(self) -> None:
        before = self.snapshot
        self.breaker.record_failure()
        self.calls["failures"] += 1
        assert self.snapshot.consecutive_failures == before.consecutive_failures + 1
        if before.state is CLOSED:
            exceeded = before.consecutive_failures + 1 > self.settings.failure_threshold
            assert self.breaker.state is (OPEN if exceeded else CLOSED)
        elif before.state is HALF_OPEN:
            assert self.breaker.state is OPEN
            assert self.snapshot.times_opened == before.times_opened + 1
        else:
            assert self.snapshot.next_attempt_at == before.next_attempt_at

    @rule(connected=st.booleans())
    def broker_connection(self, connected: bool) -> None:
        before = self.snapshot
        self.breaker.on_broker_connection(connected)
        if not connected:
            assert self.breaker.state is OPEN
            if before.state is OPEN:
                assert self.snapshot == before
        elif before.state is OPEN:
            self.connected_since_open = True
            assert before.next_attempt_at is not None
            assert self.snapshot.next_attempt_at == min(
                before.next_attempt_at, self.clock.now
            )
        else:
            assert self.snapshot == before

    @precondition(lambda self: self.transitions)
    @invariant()
    def transitions_follow_the_diagram_and_are_reported_once(self) -> None:
        assert self.transitions[0].previous is CLOSED
        for earlier, later in pairwise(self.transitions):
            assert later.previous is earlier.state
        for transition in self.transitions:
            assert (transition.previous, transition.state) in self.LEGAL_EDGES
        last = self.transitions[-1]
        assert last.state is self.breaker.state
        assert last.at == self.snapshot.last_transition_at

    @invariant()
    def counters_match_the_calls(self) -> None:
        snapshot = self.snapshot
        assert snapshot.successes == self.calls["successes"]
        assert snapshot.failures == self.calls["failures"]
        assert snapshot.skipped == self.calls["refused"]
        assert snapshot.times_opened == sum(t.state is OPEN for t in self.transitions)

    @invariant()
    def open_waits_a_random_interval_within_bounds(self) -> None:
        snapshot = self.snapshot
        assert (snapshot.next_attempt_at is not None) == (snapshot.state is OPEN)
        if snapshot.state is CLOSED:
            assert snapshot.consecutive_failures <= self.settings.failure_threshold
        if snapshot.next_attempt_at is None or snapshot.last_transition_at is None:
            return
        wait = snapshot.next_attempt_at - snapshot.last_transition_at
        assert wait <= self.settings.max_retry_seconds + ROUNDING
        if not self.connected_since_open:
            assert wait >= self.settings.min_retry_seconds - ROUNDING


BreakerMachine.TestCase.settings = hypothesis_settings(
    max_examples=150, stateful_step_count=40, deadline=None, database=None
)
TestBreakerMachine = BreakerMachine.TestCase
