"""The thermal model and the iDRAC's own fan control, on an injected clock."""

from __future__ import annotations

import math
import time

import pytest

from poweredge_sim import MODELS, SimulatedIdrac
from poweredge_sim.machine import CPU_TIME_CONSTANT, FanMode, Machine, SimClock

from .clients import pyipmi_session


class ManualTime:
    """A time source that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _machine(model: str = "r730", **kwargs: float | None) -> Machine:
    return Machine(MODELS[model], SimClock(source=ManualTime()), seed=1, **kwargs)


def _manual(machine: Machine, duty: float) -> None:
    machine.set_mode(FanMode.MANUAL)
    machine.set_duty(tuple(range(machine.model.fan_count)), duty, all_fans=True)


def test_clock_scales_the_source_and_jumps_forward() -> None:
    source = ManualTime()
    clock = SimClock(60.0, source)
    source.now += 2.0
    clock.advance(5.0)

    assert clock.now() == pytest.approx(125.0)
    with pytest.raises(ValueError):
        clock.advance(-1.0)
    with pytest.raises(ValueError):
        SimClock(0.0, source)


def test_idle_server_starts_in_steady_state() -> None:
    machine = _machine()
    before = machine.temperatures()
    machine.clock.advance(3600)

    after = machine.temperatures()

    assert after == pytest.approx(before, abs=0.5)
    assert after["inlet"] == 24.0
    assert after["inlet"] < after["exhaust"] < after["cpu1"] < after["cpu2"]


def test_cpu_follows_a_load_step_with_a_first_order_lag() -> None:
    machine = _machine()
    _manual(machine, 50.0)
    machine.clock.advance(10 * CPU_TIME_CONSTANT)
    start = machine.temperatures()["cpu1"]

    machine.load = 1.0
    machine.clock.advance(CPU_TIME_CONSTANT)
    after_tau = machine.temperatures()["cpu1"]
    machine.clock.advance(10 * CPU_TIME_CONSTANT)
    final = machine.temperatures()["cpu1"]

    assert final - start > 30
    assert (after_tau - start) / (final - start) == pytest.approx(
        1 - math.exp(-1), abs=0.02
    )


def test_more_fan_means_a_cooler_cpu_and_exhaust_follows() -> None:
    slow, fast = _machine(), _machine()
    for machine, duty in ((slow, 20.0), (fast, 100.0)):
        machine.load = 0.8
        _manual(machine, duty)
        machine.clock.advance(1800)

    hot, cool = slow.temperatures(), fast.temperatures()

    assert hot["cpu1"] - cool["cpu1"] > 10
    assert hot["exhaust"] > cool["exhaust"] > cool["inlet"]


def test_automatic_curve_speeds_up_when_hot_and_rpm_follows() -> None:
    machine = _machine()
    fan = next(s for s in machine.model.sensors if s.name == "Fan1")
    idle_duty = machine.fan_duties()[0]
    idle_rpm = machine.reading(fan).value

    machine.load = 1.0
    machine.ambient = 32.0
    machine.clock.advance(1800)

    assert idle_duty == machine.model.auto_min_duty
    assert machine.fan_duties()[0] > idle_duty + 30
    assert machine.reading(fan).value > idle_rpm + 3000
    assert machine.temperatures()["cpu2"] < 90  # the curve holds it below critical


def test_power_off_stops_fans_and_readings_but_not_the_inlet() -> None:
    machine = _machine()
    machine.set_power(False)
    machine.clock.advance(3600)

    values = {s.name: machine.reading(s).value for s in machine.model.sensors}

    assert machine.fan_duties() == [0.0] * 6
    assert values["Inlet Temp"] == 24.0
    assert all(v is None for name, v in values.items() if name != "Inlet Temp")
    assert machine.temperatures()["cpu1"] == pytest.approx(24.0, abs=0.5)


def test_idrac_reverts_manual_mode_after_the_configured_time() -> None:
    machine = _machine(revert_manual_after=60.0)
    _manual(machine, 80.0)
    machine.clock.advance(59)
    assert (machine.mode, machine.manual_duty) == (FanMode.MANUAL, 80.0)

    machine.set_mode(FanMode.MANUAL)  # re-asserting manual restarts the timer
    machine.clock.advance(59)
    assert machine.mode is FanMode.MANUAL
    machine.clock.advance(2)

    assert machine.mode is FanMode.AUTOMATIC
    assert machine.manual_duty is None
    assert machine.fan_duties()[0] < 80.0


def test_speed_set_in_automatic_mode_only_holds_briefly() -> None:
    machine = _machine(auto_override_hold=5.0)
    _all = tuple(range(6))
    machine.set_duty(_all, 90.0, all_fans=True)

    assert machine.fan_duties() == [90.0] * 6
    assert machine.manual_duty is None
    machine.clock.advance(6)
    assert machine.fan_duties() == [machine.model.auto_min_duty] * 6


def test_entering_manual_keeps_the_current_duty() -> None:
    machine = _machine()
    machine.set_mode(FanMode.MANUAL)
    machine.load = 1.0
    machine.clock.advance(600)

    assert (
        machine.fan_duties() == [machine.model.auto_min_duty] * 6
    )  # frozen, not the curve
    assert machine.temperatures()["cpu1"] > 80


def test_simulator_api_drives_the_model_without_a_socket() -> None:
    source = ManualTime()
    sim = SimulatedIdrac("r730", clock=source, time_scale=10.0, seed=2)
    sim.set_load(0.9)
    source.now += 60.0  # 600 server seconds
    hot = sim.temperatures["cpu1"]
    sim.set_load(0.0)
    sim.advance(1200)

    assert sim.now == pytest.approx(1800.0)
    assert hot > 60
    assert sim.temperatures["cpu1"] < 40
    assert sim.mode == "automatic"
    with pytest.raises(ValueError):
        sim.set_load(1.5)


def test_time_scale_makes_minutes_pass_in_moments_over_udp(
    poweredge_sim_factory,
) -> None:
    sim = poweredge_sim_factory("r730", time_scale=600.0)
    with pyipmi_session(sim) as ipmi:
        before = ipmi.get_sensor_reading(0x0E)[0]
        sim.set_load(1.0)
        deadline = time.monotonic() + 20
        reading = before
        while reading < before + 15 and time.monotonic() < deadline:
            time.sleep(0.05)
            reading = ipmi.get_sensor_reading(0x0E)[0]

    assert reading >= before + 15


def test_a_busy_server_also_starts_settled() -> None:
    machine = Machine(
        MODELS["r730"], SimClock(source=ManualTime()), load=1.0, ambient=30.0
    )
    before = machine.temperatures()
    machine.clock.advance(600)

    assert machine.temperatures() == pytest.approx(before, abs=0.5)
    assert machine.fan_duties()[0] > machine.model.auto_min_duty


def test_manual_mode_after_an_automatic_override_reports_no_stale_duty() -> None:
    machine = _machine(auto_override_hold=5.0)
    machine.set_duty(tuple(range(6)), 90.0, all_fans=True)  # while automatic
    machine.clock.advance(10)
    machine.set_mode(FanMode.MANUAL)

    assert machine.manual_duty is None
    assert machine.fan_duties() == [machine.model.auto_min_duty] * 6
