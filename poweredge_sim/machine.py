"""The simulated server: thermal model, fan controller and power state.

Nothing here knows about IPMI. The model integrates lazily: every read
first advances the state from the last update to the clock's "now", so no
ticking thread is needed and a test can jump minutes ahead with
`SimClock.advance()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
import math
import random
import time

from .models import ModelSpec, SensorKind, SensorSpec

# Largest integration step in server seconds; the exponential update is
# exact for constant inputs, so this only bounds how stale the fan curve's
# view of the temperatures can be.
_MAX_STEP = 1.0
_MAX_STEPS_PER_UPDATE = 20_000
# Twenty server minutes (many time constants) of warm-up before time zero.
SETTLE_STEPS = 300
SETTLE_STEP = 4.0

CPU_TIME_CONSTANT = 40.0  # seconds, heat sink + die
EXHAUST_TIME_CONSTANT = 60.0  # seconds, chassis air and metal
CPU_IDLE_RISE = 12.0  # degrees above inlet at zero load, no cooling credit
CPU_LOAD_RISE = 62.0  # extra degrees at full load
CPU_MAX_COOLING = 36.0  # degrees removed at 100 % fans
CPU2_OFFSET = 2.0  # the second socket sits downstream and runs warmer
EXHAUST_SHARE = 0.35  # exhaust rise as a share of the CPU rise
PLANAR_SHARE = 0.25
FAN_WATTS_AT_FULL = 60.0
RPM_NOISE = 0.01  # +- share per read
RPM_SPREAD = 0.015  # +- fixed share per rotor


class FanMode(StrEnum):
    """Who sets the fan duty."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"


class SimClock:
    """Server time in seconds: a scaled monotonic source plus manual jumps."""

    def __init__(
        self, time_scale: float = 1.0, source: Callable[[], float] = time.monotonic
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._source = source
        self._scale = time_scale
        self._origin = source()
        self._offset = 0.0

    @property
    def time_scale(self) -> float:
        """Return how many server seconds pass per source second."""
        return self._scale

    def now(self) -> float:
        """Return the server time in seconds since the simulator started."""
        return (self._source() - self._origin) * self._scale + self._offset

    def advance(self, seconds: float) -> None:
        """Jump server time forward (the thermal model catches up lazily)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds


@dataclass(frozen=True, slots=True)
class Reading:
    """A sensor value as the BMC reports it; `value` None means no reading."""

    sensor: SensorSpec
    value: float | None
    scanning: bool


class Machine:
    """The physics and the iDRAC's own fan control of one server."""

    def __init__(
        self,
        model: ModelSpec,
        clock: SimClock,
        *,
        ambient: float = 24.0,
        load: float = 0.2,
        seed: int | None = None,
        revert_manual_after: float | None = None,
        auto_override_hold: float = 5.0,
    ) -> None:
        self.model = model
        self.clock = clock
        self._ambient = ambient
        self._load = load
        self._rng = random.Random(seed)  # noqa: S311 - noise, not crypto
        self._rotor_spread = [
            self._rng.uniform(-RPM_SPREAD, RPM_SPREAD) for _ in range(model.fan_count)
        ]
        self.revert_manual_after = revert_manual_after
        self.auto_override_hold = auto_override_hold
        self.powered = True
        self._mode = FanMode.AUTOMATIC
        self.pcie_cooling_response = True
        self.disabled_sensors: set[int] = set()
        self._manual_duty: float | None = None
        self._fan_duty: list[float | None] = [None] * model.fan_count
        self._manual_since = 0.0
        self._override_until = -math.inf
        self._time = clock.now()
        self._cpu = [self._steady_cpu(i, model.auto_min_duty) for i in range(2)]
        self._exhaust = self._exhaust_target()
        self._settle()

    # ---- inputs -------------------------------------------------------
    @property
    def ambient(self) -> float:
        """Return the inlet air temperature in degrees C."""
        return self._ambient

    @ambient.setter
    def ambient(self, value: float) -> None:
        self.update()
        self._ambient = value

    @property
    def load(self) -> float:
        """Return the CPU load, 0.0 to 1.0."""
        return self._load

    @load.setter
    def load(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError("load must be between 0.0 and 1.0")
        self.update()
        self._load = value

    def set_power(self, on: bool) -> None:
        """Switch the host on or off (the BMC keeps running)."""
        self.update()
        self.powered = on

    # ---- fan control (what the OEM commands do) -----------------------
    @property
    def mode(self) -> FanMode:
        """Return who sets the fan duty now (the iDRAC may have taken over)."""
        self.update()
        return self._mode

    def set_mode(self, mode: FanMode) -> None:
        """Enter manual mode (keeping the current duties) or go back to auto."""
        self.update()
        if mode is FanMode.MANUAL:
            if self._mode is FanMode.AUTOMATIC:
                self._fan_duty = list(self._duties_at(self._time))
                self._manual_duty = None  # per-rotor duties now, not one for all
            self._manual_since = self._time
        else:
            self._manual_duty = None
            self._fan_duty = [None] * self.model.fan_count
        self._mode = mode

    def set_duty(self, rotors: tuple[int, ...], duty: float, *, all_fans: bool) -> None:
        """Apply a duty to rotors; in automatic mode it only holds briefly."""
        self.update()
        for rotor in rotors:
            self._fan_duty[rotor] = duty
        self._manual_duty = duty if all_fans else None
        if self._mode is FanMode.AUTOMATIC:
            self._override_until = self._time + self.auto_override_hold

    @property
    def manual_duty(self) -> float | None:
        """Return the duty last set for all fans in manual mode, else None."""
        self.update()
        return self._manual_duty if self._mode is FanMode.MANUAL else None

    def reset_controller(self) -> None:
        """What an iDRAC reset does to fan control: back to automatic."""
        self.set_mode(FanMode.AUTOMATIC)
        self._override_until = -math.inf

    # ---- outputs ------------------------------------------------------
    def fan_duties(self) -> list[float]:
        """Return the duty in percent each rotor runs at right now."""
        self.update()
        return self._duties_at(self._time)

    def temperatures(self) -> dict[str, float]:
        """Return the physical temperatures, whether or not a sensor shows them."""
        self.update()
        return {
            "inlet": self._ambient,
            "cpu1": self._cpu[0],
            "cpu2": self._cpu[1],
            "exhaust": self._exhaust,
            "planar": self._planar(),
        }

    def reading(self, sensor: SensorSpec) -> Reading:
        """Return what the sensor reads now, None when it has no value."""
        self.update()
        if sensor.disabled or sensor.number in self.disabled_sensors:
            return Reading(sensor, None, scanning=False)
        if not self.powered and sensor.kind is not SensorKind.INLET:
            return Reading(sensor, None, scanning=True)
        return Reading(sensor, self._value(sensor), scanning=True)

    def _value(self, sensor: SensorSpec) -> float:
        match sensor.kind:
            case SensorKind.INLET:
                return self._ambient
            case SensorKind.EXHAUST:
                return self._exhaust
            case SensorKind.PLANAR:
                return self._planar()
            case SensorKind.CPU:
                return self._cpu[sensor.index]
            case SensorKind.PSU_INLET:
                return self._ambient + 3.0 + sensor.index
            case SensorKind.FAN:
                duty = self._duties_at(self._time)[sensor.index]
                noise = self._rng.uniform(-RPM_NOISE, RPM_NOISE)
                spread = self._rotor_spread[sensor.index]
                return self.model.fans.rpm(duty) * (1.0 + spread + noise)
            case SensorKind.POWER:
                mean = _mean(self._duties_at(self._time))
                host = self.model.idle_watts + self._load * (
                    self.model.max_watts - self.model.idle_watts
                )
                return host + FAN_WATTS_AT_FULL * (mean / 100.0) ** 3

    # ---- the model ----------------------------------------------------
    def update(self) -> None:
        """Integrate from the last update to the clock's now."""
        now = self.clock.now()
        span = now - self._time
        if span <= 0:
            return
        steps = min(_MAX_STEPS_PER_UPDATE, max(1, math.ceil(span / _MAX_STEP)))
        dt = span / steps
        for _ in range(steps):
            self._step(dt)

    def _settle(self) -> None:
        """Start in the steady state of the initial load, ambient and fan curve."""
        start = self._time
        for _ in range(SETTLE_STEPS):
            self._step(SETTLE_STEP)
        self._time = start

    def _step(self, dt: float) -> None:
        self._expire_manual_mode()
        duty = _mean(self._duties_at(self._time))
        cpu_decay = 1.0 - math.exp(-dt / CPU_TIME_CONSTANT)
        for i, temperature in enumerate(self._cpu):
            self._cpu[i] = (
                temperature + (self._cpu_target(i, duty) - temperature) * cpu_decay
            )
        exhaust_decay = 1.0 - math.exp(-dt / EXHAUST_TIME_CONSTANT)
        self._exhaust += (self._exhaust_target() - self._exhaust) * exhaust_decay
        self._time += dt

    def _expire_manual_mode(self) -> None:
        if (
            self._mode is FanMode.MANUAL
            and self.revert_manual_after is not None
            and self._time - self._manual_since >= self.revert_manual_after
        ):
            self._mode = FanMode.AUTOMATIC
            self._manual_duty = None
            self._fan_duty = [None] * self.model.fan_count

    def _duties_at(self, t: float) -> list[float]:
        if not self.powered:
            return [0.0] * self.model.fan_count
        auto = self._auto_duty()
        if self._mode is FanMode.AUTOMATIC and t >= self._override_until:
            return [auto] * self.model.fan_count
        return [auto if duty is None else duty for duty in self._fan_duty]

    def _auto_duty(self) -> float:
        """The iDRAC's own curve: a floor, raised by inlet and by the hottest CPU."""
        floor = self.model.auto_min_duty
        by_inlet = floor + max(0.0, self._ambient - 25.0) * 4.0
        hottest = max(self._cpu)
        by_cpu = floor + max(0.0, hottest - 60.0) * (100.0 - floor) / 25.0
        return min(100.0, max(floor, by_inlet, by_cpu))

    def _cpu_target(self, socket: int, duty: float) -> float:
        if not self.powered:
            return self._ambient
        return self._steady_cpu(socket, duty)

    def _steady_cpu(self, socket: int, duty: float) -> float:
        cooling = CPU_MAX_COOLING * math.sqrt(max(0.0, duty) / 100.0)
        rise = (
            CPU_IDLE_RISE + self._load * CPU_LOAD_RISE + socket * CPU2_OFFSET - cooling
        )
        return self._ambient + max(2.0, rise)

    def _exhaust_target(self) -> float:
        return self._ambient + EXHAUST_SHARE * (_mean(self._cpu) - self._ambient)

    def _planar(self) -> float:
        return self._ambient + 3.0 + PLANAR_SHARE * (_mean(self._cpu) - self._ambient)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0
