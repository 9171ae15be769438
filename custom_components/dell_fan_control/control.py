"""Fan control law: temperatures, time and settings in; one fan decision out.

No Home Assistant imports and no clock of its own, so every rule can be tested with
exact times. The law, in order of precedence:

1. A failed poll keeps what is in force; ``failures_to_auto`` failed polls in a row
   hand the fans back to Dell automatic.
2. Any selected source unknown (``None``, NaN, infinite), or no source at all, counts
   as hot: Dell automatic. So nothing manual is ever sent before the first good read.
3. At or above ``critical_temperature``: Dell automatic, latched until the control
   temperature is below ``critical_temperature - hysteresis``.
4. Otherwise a manual percentage. It rises to the target at once, except that a rise
   smaller than ``min_step_percent`` may wait while that is safe: while the
   temperature is within half the hysteresis above the curve's point for the % in
   force, the target is below the highest % the settings ask for (100 % on the
   default curve), and the temperature is below ``critical_temperature -
   hysteresis``. So the % in force is never ``min_step_percent`` or more below the
   target, and never below the target of ``temperature - hysteresis / 2``.
   It falls only when the target for ``temperature + hysteresis`` is lower than
   what is in force, not before ``dwell_seconds`` after the last rise (or the first
   command), and no faster than ``slew_percent_per_minute`` on average: the slew
   budget accumulates until a step of at least ``min_step_percent`` is due, and
   only the last step down to the lowest % the settings ask for (the floor, or the
   curve's first point) may be smaller. In between, a % less than a step above the
   target for ``temperature + hysteresis`` is held. (Only that lowest % is exempt:
   an exemption that depends on the temperature, such as landing on the band, would
   let a hotter reading step down where a cooler one holds.) A step of 1 % is the
   law without the step: every change is written.

After any hand-back, or after :meth:`FanController.on_reconnect`, the next manual
command is computed from the fresh reading alone: nothing carries over.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from itertools import pairwise
import math
from typing import TYPE_CHECKING, Self, TypeIs

if TYPE_CHECKING:
    from collections.abc import Mapping

CURVE_MIN_TEMPERATURE = 0.0
CURVE_MAX_TEMPERATURE = 120.0


class InvalidSettingsError(ValueError):
    """A setting the options flow must refuse; the message says what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """One point of a fan curve: at ``temperature`` °C the fans run at ``percent``."""

    temperature: float
    percent: int


@dataclass(frozen=True, slots=True)
class FanCurve:
    """A piecewise-linear curve, flat before its first and after its last point.

    Text form, as the options flow edits it: ``"50:5, 65:15, 85:100"``.
    """

    points: tuple[CurvePoint, ...]

    def __post_init__(self) -> None:
        if len(self.points) < 2:
            raise InvalidSettingsError(
                "curve", f"a curve needs at least 2 points, got {len(self.points)}"
            )
        for number, point in enumerate(self.points, start=1):
            if not CURVE_MIN_TEMPERATURE <= point.temperature <= CURVE_MAX_TEMPERATURE:
                raise InvalidSettingsError(
                    "curve",
                    f"point {number}: temperature {point.temperature:g} °C is outside "
                    f"{CURVE_MIN_TEMPERATURE:g}-{CURVE_MAX_TEMPERATURE:g} °C",
                )
            if not 0 <= point.percent <= 100:
                raise InvalidSettingsError(
                    "curve",
                    f"point {number}: {point.percent} % is outside 0-100 %",
                )
        for number, (before, point) in enumerate(pairwise(self.points), start=2):
            if point.temperature < before.temperature:
                raise InvalidSettingsError(
                    "curve",
                    f"point {number}: temperature {point.temperature:g} °C is below "
                    f"the previous point's {before.temperature:g} °C",
                )
            if point.percent < before.percent:
                raise InvalidSettingsError(
                    "curve",
                    f"point {number}: {point.percent} % is below the previous "
                    f"point's {before.percent} % (a curve must not slow the fans "
                    "as it gets hotter)",
                )

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read the text form; blank entries (a trailing comma) are ignored."""
        points = []
        for entry in (part.strip() for part in text.split(",")):
            if not entry:
                continue
            temperature, colon, percent = entry.partition(":")
            if not colon:
                raise InvalidSettingsError(
                    "curve", f"'{entry}' is not TEMPERATURE:PERCENT, e.g. 60:35"
                )
            try:
                point = CurvePoint(float(temperature), int(percent))
            except ValueError:
                raise InvalidSettingsError(
                    "curve",
                    f"'{entry}' is not TEMPERATURE:PERCENT with a whole percentage, "
                    "e.g. 60:35",
                ) from None
            points.append(point)
        return cls(tuple(points))

    def __str__(self) -> str:
        return ", ".join(
            f"{_format_temperature(point.temperature)}:{point.percent}"
            for point in self.points
        )

    def percent_at(self, temperature: float) -> int:
        """Interpolate, rounding up; at a vertical step the higher percentage wins."""
        first = self.points[0]
        if temperature < first.temperature:
            return first.percent
        for low, high in pairwise(self.points):
            if low.temperature <= temperature < high.temperature:
                # Exact decimal arithmetic: rounding up must not turn float noise
                # (72.00000000000001) into one % more than the curve says.
                fraction = (_decimal(temperature) - _decimal(low.temperature)) / (
                    _decimal(high.temperature) - _decimal(low.temperature)
                )
                return math.ceil(low.percent + (high.percent - low.percent) * fraction)
        return self.points[-1].percent


def _decimal(value: float) -> Fraction:
    """The value as the decimal it prints as, which is what the user entered."""
    return Fraction(repr(value))


def _format_temperature(temperature: float) -> str:
    """Shortest text that parses back to the same float."""
    return str(int(temperature)) if temperature.is_integer() else repr(temperature)


DEFAULT_CURVE = FanCurve.parse("50:5, 65:15, 85:100")


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlSettings:
    """How the law behaves; the defaults are safe for a typical R730.

    Attributes:
        curve: Fan % by control temperature (preset ``curve``).
        fixed_percent: When set, the fans run at this % instead of the curve
            (preset ``manual``); every other rule still applies.
        floor_percent: Never command less than this.
        critical_temperature: °C at which the fans go back to Dell automatic.
        hysteresis: °C the temperature must fall before the fans slow down; also
            the margin below ``critical_temperature`` before control resumes.
        dwell_seconds: After a rise, hold at least this long before slowing down.
        slew_percent_per_minute: Fastest decrease, on average; increases apply at
            once.
        min_step_percent: Smallest change written, in both directions: steps down
            wait for this much slew budget (except the last one to the lowest %
            the settings ask for); a smaller rise waits only while it is safe to
            (see the module docstring).
        failures_to_auto: Failed polls in a row that hand back to Dell automatic.
    """

    curve: FanCurve = DEFAULT_CURVE
    fixed_percent: int | None = None
    floor_percent: int = 5
    critical_temperature: float = 85.0
    hysteresis: float = 3.0
    dwell_seconds: float = 30.0
    slew_percent_per_minute: float = 30.0
    min_step_percent: int = 10
    failures_to_auto: int = 3

    def __post_init__(self) -> None:
        checks = (
            (
                "fixed_percent",
                self.fixed_percent is None or 0 <= self.fixed_percent <= 100,
                f"fixed percentage must be 0-100 %, got {self.fixed_percent}",
            ),
            (
                "floor_percent",
                0 <= self.floor_percent <= 100,
                f"floor must be 0-100 %, got {self.floor_percent}",
            ),
            (
                "critical_temperature",
                0 < self.critical_temperature <= CURVE_MAX_TEMPERATURE,
                f"critical temperature must be above 0 and at most {CURVE_MAX_TEMPERATURE:g} °C, got {self.critical_temperature:g}",
            ),
            (
                "hysteresis",
                0 <= self.hysteresis < self.critical_temperature,
                f"hysteresis must be at least 0 and below the critical temperature, got {self.hysteresis:g} °C",
            ),
            (
                "dwell_seconds",
                0 <= self.dwell_seconds < math.inf,
                f"dwell must be 0 s or more, got {self.dwell_seconds:g}",
            ),
            (
                "slew_percent_per_minute",
                0 < self.slew_percent_per_minute < math.inf,
                f"slew limit must be above 0 %/min, got {self.slew_percent_per_minute:g}",
            ),
            (
                "min_step_percent",
                1 <= self.min_step_percent <= 100,
                f"minimum step must be 1-100 %, got {self.min_step_percent}",
            ),
            (
                "failures_to_auto",
                self.failures_to_auto >= 1,
                f"failed polls before Dell automatic must be at least 1, got {self.failures_to_auto}",
            ),
        )
        for field, valid, problem in checks:
            if not valid:
                raise InvalidSettingsError(field, problem)

    def target_percent(self, temperature: float) -> int:
        """The % the law settles on at ``temperature`` (the "target fan %" sensor).

        This is the curve (or the fixed %) raised to the floor, before hysteresis,
        minimum step, dwell, slew and the critical hand-back.
        """
        return _target(self, temperature)[0]


def _target(settings: ControlSettings, temperature: float) -> tuple[int, Reason]:
    if settings.fixed_percent is None:
        wanted, reason = settings.curve.percent_at(temperature), Reason.CURVE
    else:
        wanted, reason = settings.fixed_percent, Reason.FIXED_PERCENT
    if wanted < settings.floor_percent:
        return settings.floor_percent, Reason.FLOOR
    return wanted, reason


def _rise_may_wait(settings: ControlSettings, temperature: float, percent: int) -> bool:
    """Whether a rise from ``percent`` in force may wait at ``temperature``.

    Only a rise smaller than ``min_step_percent``, while the temperature is at most
    half the hysteresis above the curve's point for ``percent`` and below
    ``critical_temperature - hysteresis``, and the target is not the highest % the
    settings ask for. Each condition only gets harder to meet as the temperature
    rises, so the fan level stays non-decreasing in temperature.
    """
    target = settings.target_percent(temperature)
    return (
        target - percent < settings.min_step_percent
        and target < settings.target_percent(math.inf)
        and temperature < settings.critical_temperature - settings.hysteresis
        and settings.target_percent(temperature - settings.hysteresis / 2) <= percent
    )


class Action(StrEnum):
    """What the integration must do with the fans this cycle."""

    DELL_AUTO = "dell_auto"
    """Hand the fans to the iDRAC (send on every such decision; it is idempotent)."""
    MANUAL = "manual"
    """Assert manual mode and write ``percent``."""
    UNCHANGED = "unchanged"
    """Write no %; if ``percent`` is set, re-assert manual mode (the iDRAC can revert)."""


class Reason(StrEnum):
    """Why the decision is what it is: a sensor state and an event payload value."""

    CURVE = "curve"
    FIXED_PERCENT = "fixed_percent"
    FLOOR = "floor"
    HYSTERESIS = "hysteresis"
    """Held in the dead band around the target: above it until the temperature falls
    by the hysteresis (and a step down of ``min_step_percent`` is possible), or less
    than a step below it while the rise may wait."""
    DWELL = "dwell"
    """Wants to slow down, but the last rise was less than the dwell time ago."""
    SLEW_LIMIT = "slew_limit"
    """Slowing down towards the target at the slew rate."""
    POLL_FAILED = "poll_failed"
    """This poll failed; what was in force stays (nothing, if nothing was)."""
    REPEATED_POLL_FAILURES = "repeated_poll_failures"
    UNKNOWN_READING = "unknown_reading"
    NO_SOURCES = "no_sources"
    CRITICAL_TEMPERATURE = "critical_temperature"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One cycle's outcome.

    Attributes:
        action: What to do with the fans.
        reason: Why.
        percent: The manual % in force after this decision: always set for
            ``MANUAL``; set for ``UNCHANGED`` while manual control is in force.
        control_temperature: The hottest selected source, when all were known.
        unknown_sources: Selected sources without a usable reading.
    """

    action: Action
    reason: Reason
    percent: int | None = None
    control_temperature: float | None = None
    unknown_sources: tuple[str, ...] = ()


def _is_known(value: float | None) -> TypeIs[float]:
    return value is not None and math.isfinite(value)


def control_temperature(readings: Mapping[str, float | None]) -> float | None:
    """The hottest selected source, or None if there is none or any is unknown."""
    known = [value for value in readings.values() if _is_known(value)]
    if not known or len(known) < len(readings):
        return None
    return max(known)


@dataclass(slots=True)
class _ManualCommand:
    percent: int
    descent_from: float
    """Time from which slowing down earns slew budget; in the future during a dwell."""


class FanController:
    """Applies the control law cycle after cycle; holds the history it needs.

    ``settings`` may be replaced at any time (e.g. a new fixed %); the history stays,
    so a lower % is still reached through dwell and slew.
    """

    def __init__(self, settings: ControlSettings) -> None:
        self.settings = settings
        self._failures = 0
        self._critical = False
        self._manual: _ManualCommand | None = None
        self._auto = False

    def on_reconnect(self) -> None:
        """Forget what was commanded: the BMC may have restarted or reverted.

        The next decision is an explicit command from fresh readings. The failure
        count and the critical latch stay: they are about the server, not the link.
        """
        self._manual = None
        self._auto = False

    def decide(
        self, now: float, readings: Mapping[str, float | None] | None
    ) -> Decision:
        """Decide this cycle.

        Args:
            now: Monotonic time in seconds.
            readings: Temperature (°C) of each selected source, None for unknown;
                None as a whole when the poll failed.
        """
        if readings is None:
            return self._poll_failed()
        self._failures = 0
        temperature = control_temperature(readings)
        if temperature is None:
            unknown = tuple(
                sorted(
                    source for source, value in readings.items() if not _is_known(value)
                )
            )
            return self._hand_back(
                Reason.UNKNOWN_READING if unknown else Reason.NO_SOURCES,
                unknown_sources=unknown,
            )
        settings = self.settings
        self._critical = temperature >= (
            settings.critical_temperature - settings.hysteresis
            if self._critical
            else settings.critical_temperature
        )
        if self._critical:
            return self._hand_back(
                Reason.CRITICAL_TEMPERATURE, control_temperature=temperature
            )
        return self._command_manual(now, temperature)

    def _poll_failed(self) -> Decision:
        self._failures += 1
        if self._failures >= self.settings.failures_to_auto:
            return self._hand_back(Reason.REPEATED_POLL_FAILURES)
        if self._auto:
            return Decision(action=Action.DELL_AUTO, reason=Reason.POLL_FAILED)
        return Decision(
            action=Action.UNCHANGED,
            reason=Reason.POLL_FAILED,
            percent=None if self._manual is None else self._manual.percent,
        )

    def _hand_back(
        self,
        reason: Reason,
        *,
        control_temperature: float | None = None,
        unknown_sources: tuple[str, ...] = (),
    ) -> Decision:
        self._manual = None
        self._auto = True
        return Decision(
            action=Action.DELL_AUTO,
            reason=reason,
            control_temperature=control_temperature,
            unknown_sources=unknown_sources,
        )

    def _command_manual(self, now: float, temperature: float) -> Decision:
        settings = self.settings
        target, target_reason = _target(settings, temperature)
        lowest_allowed = settings.target_percent(temperature + settings.hysteresis)
        idle = settings.target_percent(-math.inf)
        self._auto = False
        command = self._manual
        if command is None or (
            target > command.percent
            and not _rise_may_wait(settings, temperature, command.percent)
        ):
            command = self._manual = _ManualCommand(
                target, descent_from=now + settings.dwell_seconds
            )
            action = Action.MANUAL
        elif lowest_allowed >= command.percent:
            # In the band, or a rise that may wait (the target, and so lowest_allowed,
            # is above the % in force): no slew budget accrues while holding.
            command.descent_from = max(command.descent_from, now)
            action = Action.UNCHANGED
        else:
            seconds_per_percent = 60 / settings.slew_percent_per_minute
            budget = math.floor(
                max(0.0, now - command.descent_from) / seconds_per_percent
            )
            stepped = max(lowest_allowed, command.percent - budget)
            if command.percent - stepped >= settings.min_step_percent or (
                stepped == idle < command.percent
            ):
                action = Action.MANUAL
                if stepped == lowest_allowed:
                    command.descent_from = now
                else:
                    # Carry the unspent fraction so that polls shorter than one
                    # percent's worth of slew still add up to the configured rate.
                    command.descent_from += budget * seconds_per_percent
                command.percent = stepped
            else:
                # Less than a step is due: the budget accumulates, unless the band
                # is what holds the fans (then none is banked, as when holding).
                action = Action.UNCHANGED
                if stepped == lowest_allowed:
                    command.descent_from = max(command.descent_from, now)

        if command.percent == target:
            reason = target_reason
        elif command.percent < target or (
            command.percent - lowest_allowed < settings.min_step_percent
            and lowest_allowed > idle
        ):
            reason = Reason.HYSTERESIS
        elif now < command.descent_from:
            reason = Reason.DWELL
        else:
            reason = Reason.SLEW_LIMIT
        return Decision(
            action=action,
            reason=reason,
            percent=command.percent,
            control_temperature=temperature,
        )
