"""Circuit breaker for MQTT publishing, so that a dead broker never slows fan control.

No Home Assistant imports; clock and randomness are injected. It follows the seed's
state diagram (``shared/seed/mqtt-architecture.md``)::

    CLOSED --(consecutive failures > threshold)--> OPEN
    OPEN --(random interval in [min, max] elapsed; next allow())--> HALF_OPEN
    HALF_OPEN --(trial succeeded)--> CLOSED
    HALF_OPEN --(trial failed)--> OPEN, with a new random interval

The seed draws the retry as ``Open.AttemptReset`` followed by ``HalfOpen.Testing``;
both are one trial publish here (HALF_OPEN). While not CLOSED, every refused attempt
is counted as skipped, so nothing queues up while the broker is down.

HA's broker connection status feeds in through :meth:`CircuitBreaker.on_broker_connection`:
disconnected opens the breaker at once (publishing would fail anyway), connected
makes the next attempt a trial without waiting for the interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import math
import random
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class BreakerState(StrEnum):
    """Where the breaker is; also the diagnostic sensor's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class TransitionCause(StrEnum):
    """Why the breaker changed state; one per edge of the diagram."""

    FAILURE_THRESHOLD = "failure_threshold"
    """CLOSED -> OPEN: consecutive failures exceeded the threshold."""
    RETRY_DUE = "retry_due"
    """OPEN -> HALF_OPEN: the interval elapsed (or the broker reconnected)."""
    TRIAL_SUCCEEDED = "trial_succeeded"
    """HALF_OPEN -> CLOSED."""
    TRIAL_FAILED = "trial_failed"
    """HALF_OPEN -> OPEN."""
    BROKER_DISCONNECTED = "broker_disconnected"
    """CLOSED or HALF_OPEN -> OPEN: HA reported the broker connection lost."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSettings:
    """Threshold and retry interval bounds (from the entry's options).

    Attributes:
        failure_threshold: The breaker opens when consecutive failures exceed this.
        min_retry_seconds: Shortest wait in OPEN before a trial.
        max_retry_seconds: Longest wait in OPEN before a trial.
    """

    failure_threshold: int = 3
    min_retry_seconds: float = 30.0
    max_retry_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 0:
            raise ValueError(
                f"failure threshold must be 0 or more, got {self.failure_threshold}"
            )
        if not 0 < self.min_retry_seconds <= self.max_retry_seconds < math.inf:
            raise ValueError(
                "retry interval must satisfy 0 < minimum <= maximum, got "
                f"{self.min_retry_seconds:g}..{self.max_retry_seconds:g} s"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTransition:
    """One state change, handed to the ``on_transition`` hook exactly once."""

    previous: BreakerState
    state: BreakerState
    cause: TransitionCause
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSnapshot:
    """State and counters for the diagnostic sensor and diagnostics.

    Times are on the injected clock (monotonic seconds by default).

    Attributes:
        state: Current state.
        successes: Publishes reported successful, ever.
        failures: Publishes reported failed, ever.
        consecutive_failures: Failures since the last success.
        skipped: Attempts refused because the breaker was not closed.
        times_opened: Transitions into OPEN.
        last_transition_at: When the state last changed; None if it never did.
        next_attempt_at: When OPEN, the time from which a trial is allowed.
    """

    state: BreakerState
    successes: int
    failures: int
    consecutive_failures: int
    skipped: int
    times_opened: int
    last_transition_at: float | None
    next_attempt_at: float | None


class CircuitBreaker:
    """Decides whether a publish may be attempted, from the outcomes reported.

    Usage per publish: ``if breaker.allow(): ...publish...; record_success()`` or
    ``record_failure()`` (a timeout is a failure). A trial's outcome must always be
    reported, or the breaker stays HALF_OPEN.
    """

    def __init__(
        self,
        settings: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        uniform: Callable[[float, float], float] = random.uniform,
        on_transition: Callable[[BreakerTransition], None] | None = None,
    ) -> None:
        """Create a closed breaker.

        Args:
            settings: Threshold and retry interval bounds.
            clock: Current time in seconds.
            uniform: ``uniform(a, b)`` returns a random float in [a, b], like
                ``random.Random(seed).uniform``.
            on_transition: Called after each state change, e.g. to log it.
        """
        self._settings = settings
        self._clock = clock
        self._uniform = uniform
        self._on_transition = on_transition
        self._state = BreakerState.CLOSED
        self._successes = 0
        self._failures = 0
        self._consecutive_failures = 0
        self._skipped = 0
        self._times_opened = 0
        self._last_transition_at: float | None = None
        self._next_attempt_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """Current state."""
        return self._state

    def snapshot(self) -> BreakerSnapshot:
        """State and counters, frozen."""
        return BreakerSnapshot(
            state=self._state,
            successes=self._successes,
            failures=self._failures,
            consecutive_failures=self._consecutive_failures,
            skipped=self._skipped,
            times_opened=self._times_opened,
            last_transition_at=self._last_transition_at,
            next_attempt_at=self._next_attempt_at,
        )

    def allow(self) -> bool:
        """Whether to attempt a publish now; the first one after the interval is the trial."""
        if self._state is BreakerState.CLOSED:
            return True
        now = self._clock()
        if (
            self._state is BreakerState.OPEN
            and self._next_attempt_at is not None
            and now >= self._next_attempt_at
        ):
            self._transition(BreakerState.HALF_OPEN, TransitionCause.RETRY_DUE, now)
            return True
        self._skipped += 1
        return False

    def record_success(self) -> None:
        """A publish went through."""
        self._successes += 1
        self._consecutive_failures = 0
        if self._state is BreakerState.HALF_OPEN:
            self._transition(
                BreakerState.CLOSED, TransitionCause.TRIAL_SUCCEEDED, self._clock()
            )

    def record_failure(self) -> None:
        """A publish raised or timed out."""
        self._failures += 1
        self._consecutive_failures += 1
        if self._state is BreakerState.HALF_OPEN:
            self._open(TransitionCause.TRIAL_FAILED)
        elif (
            self._state is BreakerState.CLOSED
            and self._consecutive_failures > self._settings.failure_threshold
        ):
            self._open(TransitionCause.FAILURE_THRESHOLD)

    def on_broker_connection(self, connected: bool) -> None:
        """HA's MQTT connection status (fits ``async_subscribe_connection_status``)."""
        if not connected:
            if self._state is not BreakerState.OPEN:
                self._open(TransitionCause.BROKER_DISCONNECTED)
        elif self._state is BreakerState.OPEN and self._next_attempt_at is not None:
            self._next_attempt_at = min(self._next_attempt_at, self._clock())

    def _open(self, cause: TransitionCause) -> None:
        now = self._clock()
        settings = self._settings
        self._times_opened += 1
        self._transition(
            BreakerState.OPEN,
            cause,
            now,
            next_attempt_at=now
            + self._uniform(settings.min_retry_seconds, settings.max_retry_seconds),
        )

    def _transition(
        self,
        state: BreakerState,
        cause: TransitionCause,
        now: float,
        *,
        next_attempt_at: float | None = None,
    ) -> None:
        previous = self._state
        self._state = state
        self._last_transition_at = now
        self._next_attempt_at = next_attempt_at
        if self._on_transition is not None:
            self._on_transition(
                BreakerTransition(previous=previous, state=state, cause=cause, at=now)
            )
