"""The commanded-vs-measured check, with time passed in."""

from __future__ import annotations

from custom_components.dell_fan_control.fan_response import (
    FanResponseCheck,
    ResponseVerdict,
)

SETTLE = 60.0


def settle(
    check: FanResponseCheck, start: float, percent: int, rpm: float
) -> ResponseVerdict:
    check.observe(start, percent, rpm)
    return check.observe(start + SETTLE, percent, rpm)


def test_following_fans_are_ok() -> None:
    check = FanResponseCheck()
    assert check.observe(0, 30, 6000) is ResponseVerdict.SETTLING
    assert check.observe(SETTLE, 30, 6100) is ResponseVerdict.OK
    assert check.observe(2 * SETTLE, 30, 5800) is ResponseVerdict.OK
    assert settle(check, 200, 60, 9000) is ResponseVerdict.OK
    assert settle(check, 400, 20, 4000) is ResponseVerdict.OK


def test_silent_revert_asks_for_rewrite_then_gives_up() -> None:
    check = FanResponseCheck()
    settle(check, 0, 20, 4800)
    # The iDRAC took over and spins the fans much faster.
    assert check.observe(200, 20, 9000) is ResponseVerdict.REWRITE
    assert check.observe(210, 20, 9000) is ResponseVerdict.SETTLING
    assert check.observe(210 + SETTLE, 20, 9000) is ResponseVerdict.IGNORED


def test_rewrite_that_works_clears_the_mismatch() -> None:
    check = FanResponseCheck()
    settle(check, 0, 20, 4800)
    assert check.observe(200, 20, 9000) is ResponseVerdict.REWRITE
    assert settle(check, 210, 20, 4900) is ResponseVerdict.OK
    assert check.observe(400, 20, 9000) is ResponseVerdict.REWRITE  # a new episode


def test_big_step_that_does_not_move_the_rpm_is_a_mismatch() -> None:
    check = FanResponseCheck()
    settle(check, 0, 20, 4800)
    assert settle(check, 200, 60, 4800) is ResponseVerdict.REWRITE
    assert settle(check, 400, 60, 4850) is ResponseVerdict.IGNORED


def test_small_steps_are_not_judged() -> None:
    check = FanResponseCheck()
    settle(check, 0, 20, 4800)
    assert settle(check, 200, 25, 4800) is ResponseVerdict.OK


def test_dell_auto_and_missing_rpm_reset_or_skip() -> None:
    check = FanResponseCheck()
    settle(check, 0, 20, 4800)
    assert (
        check.observe(100, 20, None) is ResponseVerdict.OK
    )  # no fan readings this poll
    assert (
        check.observe(200, None, 9000) is ResponseVerdict.OK
    )  # Dell auto: nothing to judge
    assert check.observe(300, 20, 9000) is ResponseVerdict.SETTLING  # starts over
    assert check.observe(300 + SETTLE, 20, 9000) is ResponseVerdict.OK
