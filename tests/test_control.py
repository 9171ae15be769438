"""The fan control law: one test per rule, then hypothesis properties over many histories."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from itertools import pairwise
import math
from typing import TYPE_CHECKING

from hypothesis import assume, given, settings as hypothesis_settings, strategies as st
import pytest

from custom_components.dell_fan_control.control import (
    CURVE_MAX_TEMPERATURE,
    Action,
    ControlSettings,
    CurvePoint,
    Decision,
    FanController,
    FanCurve,
    InvalidSettingsError,
    Reason,
    control_temperature,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

PROPERTIES = hypothesis_settings(max_examples=200, deadline=None, database=None)

# The rule tests use one fixed set of settings with easy arithmetic (the first defaults,
# before the 2026-12 retune: a 20 % idle and 5 % steps), so they test the rules, not
# the shipped numbers; test_defaults_are_the_documented_r730_values pins those.
RULE_CURVE = FanCurve.parse("40:20, 60:35, 75:60, 85:100")


def law(**changes: object) -> ControlSettings:
    """The rule tests' settings with ``changes``."""
    base: dict[str, object] = {
        "curve": RULE_CURVE,
        "floor_percent": 15,
        "slew_percent_per_minute": 10.0,
        "min_step_percent": 5,
    }
    return ControlSettings(**(base | changes))  # type: ignore[arg-type]


# Easier arithmetic where a test is about one rule only: a minimum step of 1 % writes
# every change (the law before the step existed).
NO_DWELL = law(dwell_seconds=0, min_step_percent=1)
NO_DWELL_NO_HYSTERESIS = law(dwell_seconds=0, hysteresis=0, min_step_percent=1)


def cpu(temperature: float | None) -> dict[str, float | None]:
    return {"cpu1": temperature}


def run(
    controller: FanController,
    polls: list[tuple[float, Mapping[str, float | None] | None]],
) -> list[Decision]:
    return [controller.decide(now, readings) for now, readings in polls]


# --- Public values other code depends on -----------------------------------------


def test_reason_and_action_values_are_stable() -> None:
    """They are HA sensor states, event payloads and translation keys."""
    assert [reason.value for reason in Reason] == [
        "curve",
        "fixed_percent",
        "floor",
        "hysteresis",
        "dwell",
        "slew_limit",
        "poll_failed",
        "repeated_poll_failures",
        "unknown_reading",
        "no_sources",
        "critical_temperature",
    ]
    assert [action.value for action in Action] == ["dell_auto", "manual", "unchanged"]


def test_defaults_are_the_documented_r730_values() -> None:
    defaults = ControlSettings()
    assert str(defaults.curve) == "50:5, 65:15, 85:100"
    assert defaults.fixed_percent is None
    assert defaults.floor_percent == 5
    assert defaults.critical_temperature == 85
    assert defaults.hysteresis == 3
    assert defaults.dwell_seconds == 30
    assert defaults.slew_percent_per_minute == 30
    assert defaults.min_step_percent == 10
    assert defaults.failures_to_auto == 3


# --- Curve ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperature", "percent"),
    [
        (-10, 20),  # flat below the first point
        (40, 20),
        (50, 28),  # 27.5 rounds up
        (60, 35),
        (70, 52),  # 51.67 rounds up
        (84.9, 100),  # 99.6 rounds up
        (85, 100),
        (119, 100),  # flat after the last point
    ],
)
def test_curve_interpolates_rounding_up(temperature: float, percent: int) -> None:
    assert RULE_CURVE.percent_at(temperature) == percent


@pytest.mark.parametrize(
    ("text", "temperature", "percent"),
    [
        ("35.3:12, 48.9:92", 45.5, 72),  # float arithmetic says 72.00000000000001
        ("2.1:50, 9:73", 2.7, 52),  # binary-exact arithmetic says just above 52
    ],
)
def test_curve_rounds_up_the_decimal_value_not_float_noise(
    text: str, temperature: float, percent: int
) -> None:
    assert FanCurve.parse(text).percent_at(temperature) == percent


def test_vertical_step_takes_the_higher_percentage() -> None:
    curve = FanCurve.parse("40:20, 60:30, 60:50, 80:80")
    assert curve.percent_at(59.99) == 30
    assert curve.percent_at(60) == 50
    assert FanCurve.parse("40:20, 80:60, 80:100").percent_at(80) == 100


def test_curve_text_round_trip() -> None:
    curve = FanCurve.parse(" 40:20,60:35 , 72.5:50, 85:100, ")
    assert curve.points == (
        CurvePoint(40, 20),
        CurvePoint(60, 35),
        CurvePoint(72.5, 50),
        CurvePoint(85, 100),
    )
    assert str(curve) == "40:20, 60:35, 72.5:50, 85:100"
    assert FanCurve.parse(str(curve)) == curve


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "at least 2 points, got 0"),
        ("40:20", "at least 2 points, got 1"),
        ("40:20, 60", "'60' is not TEMPERATURE:PERCENT"),
        ("40:20, 60-35", "'60-35' is not TEMPERATURE:PERCENT"),
        (
            "40:20, 60:35.5",
            "'60:35.5' is not TEMPERATURE:PERCENT with a whole percentage",
        ),
        ("40:20, hot:35", "'hot:35' is not TEMPERATURE:PERCENT"),
        ("40:20, 120.5:35", "point 2: temperature 120.5 °C is outside 0-120 °C"),
        ("-1:20, 60:35", "point 1: temperature -1 °C is outside 0-120 °C"),
        ("nan:20, 60:35", "point 1: temperature nan °C is outside"),
        ("40:20, 60:101", "point 2: 101 % is outside 0-100 %"),
        ("40:-1, 60:35", "point 1: -1 % is outside 0-100 %"),
        (
            "60:20, 40:35",
            "point 2: temperature 40 °C is below the previous point's 60 °C",
        ),
        ("40:50, 60:35", "point 2: 35 % is below the previous point's 50 %"),
        ("40:50, 60:49", "point 2: 49 % is below the previous point's 50 %"),
        ("40:20, 39.9:35", "point 2: temperature 39.9 °C is below"),
    ],
)
def test_bad_curve_text_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(InvalidSettingsError, match=problem) as caught:
        FanCurve.parse(text)
    assert caught.value.field == "curve"
    assert isinstance(caught.value, ValueError)


# --- Settings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fixed_percent": 101}, "fixed_percent"),
        ({"fixed_percent": -1}, "fixed_percent"),
        ({"floor_percent": 101}, "floor_percent"),
        ({"floor_percent": -1}, "floor_percent"),
        ({"critical_temperature": 0}, "critical_temperature"),
        ({"critical_temperature": 121}, "critical_temperature"),
        ({"critical_temperature": math.nan}, "critical_temperature"),
        ({"hysteresis": -0.5}, "hysteresis"),
        ({"hysteresis": 85}, "hysteresis"),
        ({"dwell_seconds": -1}, "dwell_seconds"),
        ({"dwell_seconds": math.inf}, "dwell_seconds"),
        ({"slew_percent_per_minute": 0}, "slew_percent_per_minute"),
        ({"slew_percent_per_minute": math.inf}, "slew_percent_per_minute"),
        ({"min_step_percent": 0}, "min_step_percent"),
        ({"min_step_percent": 101}, "min_step_percent"),
        ({"failures_to_auto": 0}, "failures_to_auto"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        ControlSettings(**changes)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("settings", "temperature", "percent"),
    [
        (law(), 60, 35),
        (law(), 20, 20),
        (law(floor_percent=25), 20, 25),
        (law(fixed_percent=40), 80, 40),
        (law(fixed_percent=5), 80, 15),
    ],
)
def test_target_percent_is_curve_or_fixed_raised_to_the_floor(
    settings: ControlSettings, temperature: float, percent: int
) -> None:
    assert settings.target_percent(temperature) == percent


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ({"cpu1": 50.0, "cpu2": 61.5, "gpu": 40.0}, 61.5),
        ({"cpu1": 50.0, "cpu2": None}, None),
        ({"cpu1": 50.0, "cpu2": math.nan}, None),
        ({"cpu1": 50.0, "cpu2": -math.inf}, None),
        ({}, None),
    ],
)
def test_control_temperature_is_the_hottest_known_source(
    readings: dict[str, float | None], expected: float | None
) -> None:
    assert control_temperature(readings) == expected


# --- Start-up and failed polls ------------------------------------------------------


def test_no_command_until_the_first_good_read() -> None:
    controller = FanController(law())
    first, second = run(controller, [(0, None), (10, None)])
    for decision in (first, second):
        assert decision == Decision(
            action=Action.UNCHANGED, reason=Reason.POLL_FAILED, percent=None
        )
    third = controller.decide(20, cpu(60))
    assert third == Decision(
        action=Action.MANUAL,
        reason=Reason.CURVE,
        percent=35,
        control_temperature=60,
    )


def test_failed_polls_hand_back_at_the_configured_count() -> None:
    controller = FanController(law(failures_to_auto=3))
    decisions = run(
        controller, [(0, cpu(60)), (10, None), (20, None), (30, None), (40, None)]
    )
    assert [d.action for d in decisions] == [
        Action.MANUAL,
        Action.UNCHANGED,
        Action.UNCHANGED,
        Action.DELL_AUTO,
        Action.DELL_AUTO,
    ]
    assert decisions[1].percent == decisions[2].percent == 35
    assert decisions[1].reason is Reason.POLL_FAILED
    assert decisions[3].reason is decisions[4].reason is Reason.REPEATED_POLL_FAILURES
    assert decisions[3].percent is None


def test_a_good_read_resets_the_failure_count() -> None:
    controller = FanController(law(failures_to_auto=3))
    polls: list[tuple[float, Mapping[str, float | None] | None]] = [
        (0, cpu(60)),
        (10, None),
        (20, None),
        (30, cpu(60)),
        (40, None),
        (50, None),
    ]
    assert all(d.action is not Action.DELL_AUTO for d in run(controller, polls))


def test_one_failed_poll_keeps_dell_auto_in_force() -> None:
    controller = FanController(law())
    run(controller, [(0, cpu(None))])
    assert controller.decide(10, None) == Decision(
        action=Action.DELL_AUTO, reason=Reason.POLL_FAILED
    )


def test_failures_to_auto_of_one_hands_back_on_the_first_failure() -> None:
    controller = FanController(law(failures_to_auto=1))
    assert controller.decide(0, None).action is Action.DELL_AUTO


# --- Unknown readings ----------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf])
def test_unknown_reading_is_hot(bad: float | None) -> None:
    controller = FanController(law())
    controller.decide(0, cpu(50))
    decision = controller.decide(10, {"gpu": None, "cpu1": 50.0, "cpu2": bad})
    assert decision == Decision(
        action=Action.DELL_AUTO,
        reason=Reason.UNKNOWN_READING,
        unknown_sources=("cpu2", "gpu"),
    )


def test_no_sources_is_hot() -> None:
    decision = FanController(law()).decide(0, {})
    assert decision == Decision(action=Action.DELL_AUTO, reason=Reason.NO_SOURCES)


def test_after_an_unknown_reading_control_resumes_fresh() -> None:
    """Even a much lower % applies at once: the fans were under Dell's control."""
    controller = FanController(law())
    decisions = run(controller, [(0, cpu(80)), (10, cpu(None)), (20, cpu(40))])
    assert decisions[0].percent == 80
    assert decisions[2] == Decision(
        action=Action.MANUAL,
        reason=Reason.CURVE,
        percent=20,
        control_temperature=40,
    )


# --- Critical temperature -------------------------------------------------------------


def test_critical_hands_back_and_latches_until_below_critical_minus_hysteresis() -> (
    None
):
    controller = FanController(law(critical_temperature=85, hysteresis=3))
    temperatures = [84.9, 85, 84, 82.1, 82, 81.9]
    decisions = [controller.decide(10 * i, cpu(t)) for i, t in enumerate(temperatures)]
    assert [d.action for d in decisions] == [
        Action.MANUAL,
        Action.DELL_AUTO,
        Action.DELL_AUTO,
        Action.DELL_AUTO,
        Action.DELL_AUTO,
        Action.MANUAL,
    ]
    assert decisions[1].reason is Reason.CRITICAL_TEMPERATURE
    assert decisions[1].control_temperature == 85
    assert decisions[5].percent == law().target_percent(81.9)


def test_critical_applies_in_fixed_mode() -> None:
    controller = FanController(law(fixed_percent=30))
    assert controller.decide(0, cpu(90)).action is Action.DELL_AUTO


# --- Rising, holding, stepping down -----------------------------------------------------


def test_unchanged_when_the_percentage_is_already_in_force() -> None:
    controller = FanController(law())
    run(controller, [(0, cpu(60))])
    assert controller.decide(10, cpu(60)) == Decision(
        action=Action.UNCHANGED,
        reason=Reason.CURVE,
        percent=35,
        control_temperature=60,
    )


def test_increase_applies_at_once_even_during_dwell_and_descent() -> None:
    controller = FanController(law())
    decisions = run(
        controller,
        [(0, cpu(75)), (1, cpu(40)), (200, cpu(40)), (201, cpu(80))],
    )
    assert decisions[1].reason is Reason.DWELL
    assert decisions[2].reason is Reason.SLEW_LIMIT
    assert decisions[3].action is Action.MANUAL
    assert decisions[3].percent == 80


def test_floor_raises_the_curve() -> None:
    controller = FanController(law(floor_percent=25))
    assert controller.decide(0, cpu(30)) == Decision(
        action=Action.MANUAL,
        reason=Reason.FLOOR,
        percent=25,
        control_temperature=30,
    )


def test_drop_smaller_than_hysteresis_holds_then_larger_drop_steps_down() -> None:
    controller = FanController(NO_DWELL)  # hysteresis 3 °C
    decisions = run(
        controller,
        [(0, cpu(60)), *((t, cpu(57.5)) for t in range(10, 600, 10)), (600, cpu(55))],
    )
    assert decisions[0].percent == 35
    assert {(d.action, d.reason, d.percent) for d in decisions[1:-1]} == {
        (Action.UNCHANGED, Reason.HYSTERESIS, 35)
    }
    # target(55 + 3) = 33.5 -> 34: one step, then the band holds it above target(55) = 32.
    assert decisions[-1] == Decision(
        action=Action.MANUAL,
        reason=Reason.HYSTERESIS,
        percent=34,
        control_temperature=55,
    )


def test_dwell_delays_the_first_step_down() -> None:
    controller = FanController(law(hysteresis=0, dwell_seconds=30, min_step_percent=1))
    decisions = run(
        controller, [(t, cpu(75 if t == 0 else 40)) for t in range(0, 50, 10)]
    )
    assert [(d.reason, d.percent) for d in decisions] == [
        (Reason.CURVE, 60),
        (Reason.DWELL, 60),
        (Reason.DWELL, 60),
        (Reason.SLEW_LIMIT, 60),  # dwell over; no budget yet
        (Reason.SLEW_LIMIT, 59),  # 10 s at 10 %/min
    ]


@pytest.mark.parametrize("poll_seconds", [1, 5, 10, 30])
def test_slew_limit_is_exact_whatever_the_poll_interval(poll_seconds: int) -> None:
    """Fractions of a % carry over: short polls still add up to 10 %/min."""
    controller = FanController(NO_DWELL_NO_HYSTERESIS)  # 10 %/min
    controller.decide(0, cpu(75))  # 60 %
    for now in range(poll_seconds, 241, poll_seconds):
        decision = controller.decide(now, cpu(40))  # target 20 %
        assert decision.percent == max(20, 60 - now // 6), now
    assert decision.reason is Reason.CURVE


def test_long_hold_does_not_bank_slew_budget() -> None:
    """Ten minutes in the band, then a big drop: one slew step, not a cliff."""
    controller = FanController(NO_DWELL)
    run(controller, [(t, cpu(60 if t == 0 else 58)) for t in range(0, 601, 10)])
    assert controller.decide(610, cpu(40)).percent == 34


def test_reaching_the_target_does_not_bank_slew_budget() -> None:
    controller = FanController(NO_DWELL_NO_HYSTERESIS)
    decisions = run(
        controller, [(0, cpu(75)), (600, cpu(74)), (605, cpu(40)), (610, cpu(40))]
    )
    assert [d.percent for d in decisions] == [60, 59, 59, 58]


def test_clock_going_backwards_never_raises_or_drops() -> None:
    controller = FanController(NO_DWELL_NO_HYSTERESIS)
    controller.decide(100, cpu(75))
    decision = controller.decide(50, cpu(40))
    assert (decision.action, decision.percent) == (Action.UNCHANGED, 60)


# --- Minimum step ------------------------------------------------------------------------------


def test_small_rise_waits_only_within_half_the_hysteresis() -> None:
    """Defaults: step 5 %, hysteresis 3 °C; 35 % is the curve's point at 60 °C."""
    controller = FanController(law())
    decisions = run(controller, [(0, cpu(60)), (15, cpu(61)), (30, cpu(62))])
    assert [(d.action, d.reason, d.percent) for d in decisions] == [
        (Action.MANUAL, Reason.CURVE, 35),
        # target(61) = 37: 2 % short, but 61 °C is within 1.5 °C of 60 °C.
        (Action.UNCHANGED, Reason.HYSTERESIS, 35),
        # 62 °C is more than 1.5 °C above: the rise is written, to the target exactly.
        (Action.MANUAL, Reason.CURVE, 39),
    ]


def test_rise_of_a_step_or_more_is_written_at_once() -> None:
    curve = FanCurve.parse("50:20, 60:20, 60:25, 80:60")
    controller = FanController(law(curve=curve))
    run(controller, [(0, cpu(59))])
    # Within half the hysteresis of the 20 % point (60 °C), but a whole step short.
    assert controller.decide(15, cpu(60)) == Decision(
        action=Action.MANUAL,
        reason=Reason.CURVE,
        percent=25,
        control_temperature=60,
    )


def test_rise_to_the_highest_percent_is_written_at_once() -> None:
    settings = law(
        curve=FanCurve.parse("40:20, 80:96, 81:100"), critical_temperature=120
    )
    controller = FanController(settings)
    run(controller, [(0, cpu(80))])  # 96 %
    # 4 % short and within the band, but 100 % is the most the curve asks for.
    assert controller.decide(15, cpu(81)).percent == 100


@pytest.mark.parametrize(
    ("critical", "action", "percent"),
    [
        (85, Action.MANUAL, 32),  # 84.5 °C is above critical - hysteresis: written
        (95, Action.UNCHANGED, 31),  # far from critical: the 1 % rise may wait
    ],
)
def test_rise_near_critical_is_written_at_once(
    critical: float, action: Action, percent: int
) -> None:
    curve = FanCurve.parse("40:20, 120:40")  # 31 % at 84 °C, 32 % above it
    controller = FanController(law(curve=curve, critical_temperature=critical))
    decisions = run(controller, [(0, cpu(84)), (15, cpu(84.5))])
    assert [(d.action, d.percent) for d in decisions] == [
        (Action.MANUAL, 31),
        (action, percent),
    ]


def test_no_rise_waits_without_hysteresis() -> None:
    controller = FanController(law(hysteresis=0))
    decisions = run(controller, [(0, cpu(60)), (15, cpu(61))])
    assert [(d.action, d.percent) for d in decisions] == [
        (Action.MANUAL, 35),
        (Action.MANUAL, 37),
    ]


@pytest.mark.parametrize("poll_seconds", [1, 5, 10, 15, 20, 30, 45])
def test_steps_down_in_chunks_at_the_average_slew_rate(poll_seconds: int) -> None:
    """10 %/min in steps of at least 5 %: never ahead of the ramp, never a step behind."""
    controller = FanController(law(dwell_seconds=0, hysteresis=0))
    controller.decide(0, cpu(75))  # 60 %
    written = [60]
    for now in range(poll_seconds, 300, poll_seconds):
        decision = controller.decide(now, cpu(40))  # target 20 %
        assert decision.percent is not None
        ramp = max(20, 60 - now // 6)
        assert ramp <= decision.percent <= ramp + 4, now
        if decision.action is Action.MANUAL:
            written.append(decision.percent)
    assert written[-1] == 20
    # Only the last step, to the curve's lowest %, may be smaller.
    assert all(before - after >= 5 for before, after in pairwise(written[:-1]))
    # 40 % in steps of at least 5 %: at most 8 writes (up to 40 with a step of 1 %).
    assert len(written) - 1 <= 8


def test_descent_holds_less_than_a_step_above_the_band() -> None:
    # Step 5 %, hysteresis 3 °C.
    controller = FanController(law(dwell_seconds=0))
    decisions = run(
        controller,
        [
            (0, cpu(60)),  # 35 %
            (15, cpu(55)),  # target(58) = 34: 1 % lower is allowed, less than a step
            (30, cpu(52)),  # target(55) = 32: 3 % lower, still less than a step
            (45, cpu(52)),  # 30 s of slew, but the band allows only 3 %
            (60, cpu(50)),  # target(53) = 30: a step, but 15 s since the band held it
            (75, cpu(50)),  # 30 s since then: 5 %
        ],
    )
    assert [(d.action, d.reason, d.percent) for d in decisions] == [
        (Action.MANUAL, Reason.CURVE, 35),
        (Action.UNCHANGED, Reason.HYSTERESIS, 35),
        (Action.UNCHANGED, Reason.HYSTERESIS, 35),
        (Action.UNCHANGED, Reason.HYSTERESIS, 35),
        (Action.UNCHANGED, Reason.SLEW_LIMIT, 35),
        (Action.MANUAL, Reason.HYSTERESIS, 30),
    ]


def test_holding_less_than_a_step_above_the_band_banks_no_slew_budget() -> None:
    """Ten minutes held 1 % above the band, then a big drop: steps of 5 % at the slew rate."""
    controller = FanController(law(dwell_seconds=0))
    run(controller, [(t, cpu(60 if t == 0 else 55)) for t in range(0, 601, 10)])
    decisions = run(controller, [(t, cpu(40)) for t in range(610, 671, 10)])
    # 5 % per 30 s from the last poll that the band held.
    assert [d.percent for d in decisions] == [35, 35, 30, 30, 30, 25, 25]


def test_last_step_down_to_the_lowest_percent_may_be_smaller() -> None:
    controller = FanController(law(dwell_seconds=0))
    controller.decide(0, cpu(62))  # 39 %
    written = [
        (now, decision.percent)
        for now in range(15, 301, 15)
        if (decision := controller.decide(now, cpu(30))).action is Action.MANUAL
    ]
    # 30 s per 5 %, then the last 4 % to the curve's 20 % as soon as the budget has them.
    assert written == [(30, 34), (60, 29), (90, 24), (120, 20)]


# --- Fixed percentage (preset manual) -------------------------------------------------------


def test_fixed_percent_ignores_the_curve_but_not_the_floor() -> None:
    controller = FanController(law(fixed_percent=40))
    assert controller.decide(0, cpu(80)) == Decision(
        action=Action.MANUAL,
        reason=Reason.FIXED_PERCENT,
        percent=40,
        control_temperature=80,
    )
    below_floor = FanController(law(fixed_percent=10, floor_percent=15))
    assert below_floor.decide(0, cpu(30)) == Decision(
        action=Action.MANUAL,
        reason=Reason.FLOOR,
        percent=15,
        control_temperature=30,
    )


def test_changing_the_fixed_percent_rises_at_once_and_falls_through_dwell() -> None:
    controller = FanController(law(fixed_percent=30))
    controller.decide(0, cpu(50))
    controller.settings = law(fixed_percent=32)
    # Less than a step, but the fixed % is the target at every temperature: at once.
    assert controller.decide(5, cpu(50)).percent == 32
    controller.settings = law(fixed_percent=70)
    assert controller.decide(10, cpu(50)).percent == 70
    controller.settings = law(fixed_percent=20)
    assert controller.decide(20, cpu(50)).reason is Reason.DWELL
    assert controller.decide(46, cpu(50)).percent == 70  # 1 % of budget: not a step
    assert controller.decide(70, cpu(50)).percent == 65  # 30 s after the dwell: 5 %


def test_unknown_reading_hands_back_in_fixed_mode() -> None:
    controller = FanController(law(fixed_percent=40))
    assert controller.decide(0, cpu(None)).action is Action.DELL_AUTO


# --- Reconnect ------------------------------------------------------------------------------


def test_first_command_after_reconnect_is_fresh() -> None:
    controller = FanController(law())
    controller.decide(0, cpu(75))
    controller.on_reconnect()
    same = controller.decide(10, cpu(75))
    assert (same.action, same.percent) == (Action.MANUAL, 60)  # not UNCHANGED
    controller.on_reconnect()
    lower = controller.decide(11, cpu(40))
    assert (lower.action, lower.percent) == (Action.MANUAL, 20)  # no dwell, no slew


def test_failed_poll_after_reconnect_claims_nothing_is_in_force() -> None:
    controller = FanController(law())
    controller.decide(0, cpu(75))
    controller.on_reconnect()
    assert controller.decide(10, None) == Decision(
        action=Action.UNCHANGED, reason=Reason.POLL_FAILED, percent=None
    )


def test_reconnect_keeps_the_critical_latch_and_failure_count() -> None:
    controller = FanController(law(failures_to_auto=2))
    controller.decide(0, cpu(86))
    controller.on_reconnect()
    assert controller.decide(10, cpu(84)).reason is Reason.CRITICAL_TEMPERATURE
    controller.decide(20, cpu(60))
    controller.decide(30, None)
    controller.on_reconnect()
    assert controller.decide(40, None).reason is Reason.REPEATED_POLL_FAILURES


# --- Properties ------------------------------------------------------------------------------

temperatures = st.floats(min_value=10, max_value=125)


@st.composite
def curves(draw: st.DrawFn) -> FanCurve:
    size = draw(st.integers(min_value=2, max_value=6))
    points = zip(
        sorted(draw(st.lists(st.floats(15, 110), min_size=size, max_size=size))),
        sorted(draw(st.lists(st.integers(0, 100), min_size=size, max_size=size))),
        strict=True,
    )
    return FanCurve(tuple(CurvePoint(t, p) for t, p in points))


@st.composite
def control_settings(draw: st.DrawFn) -> ControlSettings:
    return ControlSettings(
        curve=draw(curves()),
        fixed_percent=draw(st.none() | st.integers(0, 100)),
        floor_percent=draw(st.integers(0, 40)),
        critical_temperature=draw(st.floats(min_value=60, max_value=120)),
        hysteresis=draw(st.floats(min_value=0, max_value=8)),
        dwell_seconds=draw(st.floats(min_value=0, max_value=90)),
        slew_percent_per_minute=draw(st.floats(min_value=1, max_value=60)),
        min_step_percent=draw(st.integers(1, 20)),
        failures_to_auto=draw(st.integers(1, 4)),
    )


@dataclass(frozen=True)
class Poll:
    now: float
    readings: Mapping[str, float | None] | None
    reconnect_first: bool


@st.composite
def histories(draw: st.DrawFn) -> list[Poll]:
    """A temperature random walk, polled with some failures, unknowns and reconnects."""
    temperature = draw(st.floats(20, 100))
    now = 0.0
    history = []
    for _ in range(draw(st.integers(0, 40))):
        now += draw(st.floats(0, 60))
        temperature = min(125, max(10, temperature + draw(st.floats(-6, 6))))
        readings: dict[str, float | None] | None
        match draw(st.sampled_from(["one"] * 4 + ["several"] * 3 + ["failed", "bad"])):
            case "one":
                readings = {"cpu1": temperature}
            case "several":
                cooler = draw(st.floats(0, 20))
                readings = {"cpu1": temperature - cooler, "cpu2": temperature}
            case "failed":
                readings = None
            case _:
                bad = draw(st.sampled_from([None, math.nan, math.inf]))
                readings = draw(
                    st.sampled_from([{}, {"cpu1": temperature, "gpu": bad}])
                )
        reconnect = draw(st.sampled_from([False] * 9 + [True]))
        history.append(Poll(now, readings, reconnect))
    return history


def replay(controller: FanController, history: list[Poll]) -> Iterator[Decision]:
    for poll in history:
        if poll.reconnect_first:
            controller.on_reconnect()
        yield controller.decide(poll.now, poll.readings)


def hottest_if_all_known(readings: Mapping[str, float | None]) -> float | None:
    """The test's own reading of "unknown is hot": any None, NaN or infinity, or nothing."""
    values = list(readings.values())
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return max(v for v in values if v is not None)


def fan_level(decision: Decision) -> float:
    """Dell automatic ranks above every manual %: it is the hand-back when in doubt."""
    if decision.action is Action.DELL_AUTO:
        return math.inf
    assert decision.percent is not None
    return decision.percent


@PROPERTIES
@given(control_settings(), histories())
def test_every_decision_is_safe(settings: ControlSettings, history: list[Poll]) -> None:
    """Auto or floor..100; auto on unknown, critical and N failures; below the target
    only by less than the minimum step, only while the temperature is within half the
    hysteresis of the curve's point for the % in force, and never at the highest % or
    within the hysteresis of critical (a minimum step of 1 % is: never below target)."""
    controller = FanController(settings)
    failed_in_a_row = 0
    latched = False
    for poll, decision in zip(history, replay(controller, history), strict=True):
        if decision.action is Action.DELL_AUTO:
            assert decision.percent is None
        elif decision.percent is not None:
            assert settings.floor_percent <= decision.percent <= 100
        if poll.readings is None:
            failed_in_a_row += 1
            assert decision.action is not Action.MANUAL
            assert (decision.reason is Reason.REPEATED_POLL_FAILURES) == (
                failed_in_a_row >= settings.failures_to_auto
            )
            continue
        failed_in_a_row = 0
        temperature = hottest_if_all_known(poll.readings)
        if temperature is None:
            assert decision.action is Action.DELL_AUTO
            continue
        if temperature >= settings.critical_temperature:
            assert decision.action is Action.DELL_AUTO
            latched = True
        elif decision.action is not Action.DELL_AUTO:
            assert not latched or (
                temperature < settings.critical_temperature - settings.hysteresis
            )
            latched = False
            assert decision.percent is not None
            target = settings.target_percent(temperature)
            assert decision.percent > target - settings.min_step_percent
            assert decision.percent >= settings.target_percent(
                temperature - settings.hysteresis / 2
            )
            if (
                target == settings.target_percent(math.inf)
                or temperature >= settings.critical_temperature - settings.hysteresis
            ):
                assert decision.percent >= target


@PROPERTIES
@given(control_settings(), histories())
def test_unchanged_means_exactly_what_is_in_force(
    settings: ControlSettings, history: list[Poll]
) -> None:
    """MANUAL is always a change; UNCHANGED repeats the % in force, or None if none is."""
    controller = FanController(settings)
    in_force: int | Action | None = None
    for poll, decision in zip(history, replay(controller, history), strict=True):
        if poll.reconnect_first:
            in_force = None
        match decision.action:
            case Action.MANUAL:
                assert decision.percent != in_force
                in_force = decision.percent
            case Action.UNCHANGED:
                assert in_force is None or isinstance(in_force, int)
                assert decision.percent == in_force
            case Action.DELL_AUTO:
                in_force = Action.DELL_AUTO


@PROPERTIES
@given(control_settings(), histories())
def test_decreases_respect_dwell_slew_and_hysteresis(
    settings: ControlSettings, history: list[Poll]
) -> None:
    controller = FanController(settings)
    rate = settings.slew_percent_per_minute / 60
    manual_run: list[tuple[float, int]] = []  # (time, %) since manual control began
    last_rise = -math.inf
    for poll, decision in zip(history, replay(controller, history), strict=True):
        if poll.reconnect_first or decision.percent is None:
            manual_run = []
        if decision.percent is None or poll.readings is None:
            continue  # a failed poll confirms nothing: no reference point for the slew
        if not manual_run or decision.percent > manual_run[-1][1]:
            last_rise = poll.now
        elif decision.percent < manual_run[-1][1]:
            assert decision.control_temperature is not None
            assert poll.now - last_rise >= settings.dwell_seconds
            assert decision.percent >= settings.target_percent(
                decision.control_temperature + settings.hysteresis
            )
            for earlier, percent in manual_run:
                # Integer steps of at least min_step: the budget saved up for a step
                # is less than one step, so never a step or more ahead of a
                # continuous ramp (one %, as before, with a step of 1 %).
                assert (
                    percent - decision.percent
                    <= rate * (poll.now - earlier) + settings.min_step_percent + 1e-9
                )
        manual_run.append((poll.now, decision.percent))


@PROPERTIES
@given(control_settings(), histories())
def test_writes_are_at_least_a_step_apart(
    settings: ControlSettings, history: list[Poll]
) -> None:
    """A rise lands on the target exactly; a fall is a whole step, or the last one to
    the lowest % the settings ask for. Only the first write after Dell auto, a
    reconnect or the start is free (there is no % in force to step from)."""
    controller = FanController(settings)
    idle = settings.target_percent(-math.inf)
    in_force: int | None = None
    for poll, decision in zip(history, replay(controller, history), strict=True):
        if poll.reconnect_first or decision.action is Action.DELL_AUTO:
            in_force = None
        if decision.action is not Action.MANUAL:
            continue
        assert decision.percent is not None
        assert decision.control_temperature is not None
        if in_force is not None:
            if decision.percent > in_force:
                assert decision.percent == settings.target_percent(
                    decision.control_temperature
                )
            else:
                assert (
                    in_force - decision.percent >= settings.min_step_percent
                    or decision.percent == idle
                )
        in_force = decision.percent


@PROPERTIES
@given(
    control_settings(),
    st.floats(40, 110),
    st.floats(10, 60),
    st.sampled_from([1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60]),
    st.lists(st.integers(1, 60), max_size=40),
)
def test_steps_down_keep_the_average_slew_rate(
    settings: ControlSettings,
    hot: float,
    cool: float,
    slew: int,
    gaps: list[int],
) -> None:
    """After a fall to a steady temperature the fans are never a step or more behind
    the slew ramp (so they end less than a step above the band), never ahead of it,
    and on the lowest % exactly once the ramp reaches it."""
    # Whole seconds per % and whole-second polls: the ramp is exact, no float rounding.
    settings = replace(
        settings,
        slew_percent_per_minute=slew,
        critical_temperature=CURVE_MAX_TEMPERATURE,
        dwell_seconds=round(settings.dwell_seconds),
    )
    assume(cool < hot)
    controller = FanController(settings)
    start = controller.decide(0, cpu(hot)).percent
    assert start is not None
    lowest_allowed = settings.target_percent(cool + settings.hysteresis)
    idle = settings.target_percent(-math.inf)
    seconds_per_percent = 60 // slew
    now = 0
    for gap in gaps:
        now += gap
        percent = controller.decide(now, cpu(cool)).percent
        assert percent is not None
        earned = max(0, now - round(settings.dwell_seconds)) // seconds_per_percent
        ramp = max(min(lowest_allowed, start), start - earned)
        assert ramp <= percent < ramp + settings.min_step_percent
        if lowest_allowed == idle and earned >= start - idle:
            assert percent == idle


@PROPERTIES
@given(control_settings(), histories(), st.floats(0, 90), temperatures, temperatures)
def test_fan_level_never_falls_as_temperature_rises(
    settings: ControlSettings,
    history: list[Poll],
    after_seconds: float,
    first: float,
    second: float,
) -> None:
    controller = FanController(settings)
    for _ in replay(controller, history):
        pass
    now = (history[-1].now if history else 0) + after_seconds
    cooler, hotter = sorted((first, second))
    cooler_decision = copy.deepcopy(controller).decide(now, cpu(cooler))
    hotter_decision = copy.deepcopy(controller).decide(now, cpu(hotter))
    assert fan_level(cooler_decision) <= fan_level(hotter_decision)


@PROPERTIES
@given(control_settings(), st.data())
def test_drop_smaller_than_hysteresis_never_lowers_the_fans(
    settings: ControlSettings, data: st.DataObject
) -> None:
    # At least 1 °C below critical, so that the band is never empty.
    start = data.draw(st.floats(10, settings.critical_temperature - 1))
    within_band = st.floats(
        start - settings.hysteresis,
        settings.critical_temperature,
        exclude_min=True,
        exclude_max=True,
    )
    controller = FanController(settings)
    started = controller.decide(0, cpu(start)).percent
    assert started is not None
    now = 0.0
    for after_seconds, temperature in data.draw(
        st.lists(st.tuples(st.floats(0, 300), within_band), max_size=30)
    ):
        now += after_seconds
        percent = controller.decide(now, cpu(temperature)).percent
        assert percent is not None
        assert percent >= started


@st.composite
def nearly_valid_point_lists(draw: st.DrawFn) -> list[CurvePoint]:
    """A valid curve with at most one fault, just over a limit, where validators slip."""
    size = draw(st.integers(min_value=2, max_value=6))
    temps = sorted(draw(st.lists(st.floats(2, 118), min_size=size, max_size=size)))
    percents = sorted(draw(st.lists(st.integers(3, 97), min_size=size, max_size=size)))
    points = [CurvePoint(t, p) for t, p in zip(temps, percents, strict=True)]
    index = draw(st.integers(1, size - 1))
    point, before, last = points[index], points[index - 1], size - 1
    just_over = draw(st.floats(0.001, 2))
    match draw(st.integers(0, 6)):
        case 1:
            points[index] = CurvePoint(before.temperature - just_over, point.percent)
        case 2:
            points[index] = CurvePoint(point.temperature, before.percent - 1)
        case 3:
            points[0] = CurvePoint(-just_over, points[0].percent)
        case 4:
            points[last] = CurvePoint(120 + just_over, points[last].percent)
        case 5:
            end = draw(st.sampled_from([0, last]))
            points[end] = CurvePoint(
                points[end].temperature, draw(st.sampled_from([-1, 101]))
            )
        case 6:
            points = points[: draw(st.integers(0, 1))]
    return points


point_lists = nearly_valid_point_lists() | st.lists(
    st.builds(CurvePoint, st.floats(-20, 140), st.integers(-10, 110)), max_size=6
)


@hypothesis_settings(max_examples=400, deadline=None, database=None)
@given(point_lists)
def test_curve_validation_accepts_exactly_the_valid_curves(
    points: list[CurvePoint],
) -> None:
    valid = (
        len(points) >= 2
        and all(0 <= p.temperature <= 120 and 0 <= p.percent <= 100 for p in points)
        and all(
            a.temperature <= b.temperature and a.percent <= b.percent
            for a, b in pairwise(points)
        )
    )
    if valid:
        curve = FanCurve(tuple(points))
        assert FanCurve.parse(str(curve)) == curve
    else:
        with pytest.raises(InvalidSettingsError):
            FanCurve(tuple(points))


@PROPERTIES
@given(curves(), temperatures, temperatures)
def test_curve_is_monotonic_and_bounded_by_its_ends(
    curve: FanCurve, first: float, second: float
) -> None:
    cooler, hotter = sorted((first, second))
    assert curve.percent_at(cooler) <= curve.percent_at(hotter)
    assert curve.points[0].percent <= curve.percent_at(cooler)
    assert curve.percent_at(hotter) <= curve.points[-1].percent
