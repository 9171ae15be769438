"""Fan control on one thermal model: our curve (the real integration) vs a threshold controller.

Not a test: R730 simulators on injected clocks run the same load profile (default two hours
of server time: a new load level every 10 minutes, Gaussian noise every 30 s, seeded), one
run per controller, each polling every 15 s of server time over real UDP.

Ours: the real integration path. A Home Assistant test instance sets the entry up, preset
``curve`` with the shipped defaults (or --option), and each poll is ``DellFanCoordinator.async_refresh``.
Threshold: the loop of the most used peer (tigerblue77/Dell_iDRAC_fan_controller_Docker),
rewritten here over our ``IdracClient``: each cycle, a CPU above the threshold (or unreadable)
→ "automatic", else "manual" and the static %; it sends them every cycle, as the peer does.

    scripts/run python -m benchmarks.controller_vs_threshold [--hours 2] [--seed 1]
        [--static 20 5] [--threshold 50] [--option NAME=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from itertools import pairwise
import math
import random
import statistics
from typing import Any
import uuid

from homeassistant import loader
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.dell_fan_control.const import (
    CIPHER_SUITE_AUTO,
    CONF_CIPHER_SUITE,
    DOMAIN,
    PRESET_CURVE,
)
from custom_components.dell_fan_control.control import ControlSettings
from custom_components.dell_fan_control.coordinator import DellFanCoordinator
from custom_components.dell_fan_control.idrac import (
    ConnectionSettings,
    IdracClient,
    SensorKind,
)
from custom_components.dell_fan_control.options import EntryOptions
from poweredge_sim import OemLogEntry, SimulatedIdrac

USER = "root"
PASSWORD = "calvin"  # noqa: S105 - the simulator's (and the iDRAC's factory) default
POLL_SECONDS = 15
STEP_SECONDS = 600
NOISE_SECONDS = 30
NOISE_SIGMA = 0.03
LEVELS = (0.2, 0.9, 0.2, 0.5, 0.3, 0.7, 0.4, 0.9, 0.6, 0.2, 0.8, 0.35)
"""Idle, full and the middle loads where a threshold sits; repeated if --hours > 2."""
SET_PERCENT = bytes((0x02, 0xFF))
MANUAL = bytes((0x01, 0x00))
AUTOMATIC = bytes((0x01, 0x01))


class ServerClock:
    """Server seconds, moved by the benchmark; shared by a simulator and its controller."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True, slots=True)
class LoadProfile:
    """CPU load for each noise period; the same list drives every controller."""

    loads: tuple[float, ...]

    @classmethod
    def build(cls, hours: float, seed: int) -> LoadProfile:
        """Step through LEVELS every STEP_SECONDS, with clamped Gaussian noise."""
        rng = random.Random(seed)  # noqa: S311 - a reproducible profile, not crypto
        periods = round(hours * 3600 / NOISE_SECONDS)
        per_step = STEP_SECONDS // NOISE_SECONDS

        def noisy(level: float) -> float:
            return min(1.0, max(0.0, level + rng.gauss(0, NOISE_SIGMA)))

        return cls(
            tuple(noisy(LEVELS[i // per_step % len(LEVELS)]) for i in range(periods))
        )

    @property
    def seconds(self) -> int:
        """Length of the profile in server seconds."""
        return len(self.loads) * NOISE_SECONDS


@dataclass(frozen=True, slots=True)
class Writes:
    """Dell fan commands (30 30 ...) as the simulator logged them, whole run."""

    sent: int
    """Every command, re-assertions of the mode in force and repeated % included."""
    percent_commands: int
    """Every ``02 ff NN``."""
    mode_switches: int
    """``01 00`` / ``01 01`` that changed the mode (the iDRAC starts in automatic)."""
    changes: int
    """Mode switches plus % commands that changed the manual % in force (the first
    after entering manual always counts): what the fans and the iDRAC actually see."""

    @property
    def fan_writes(self) -> int:
        """Every % command sent, plus every switch between manual and Dell auto.

        Re-assertions of the mode in force are not counted for anyone: both sides
        send one every poll (the issue asks it of us, the peer does it).
        """
        return self.percent_commands + self.mode_switches

    @classmethod
    def count(cls, log: list[OemLogEntry]) -> Writes:
        """Replay the log: which commands changed the iDRAC's fan state."""
        commands = [entry.data for entry in log if entry.command == 0x30]
        automatic, percent = True, None
        switches = changes = 0
        for data in commands:
            if data in (MANUAL, AUTOMATIC):
                if (data == AUTOMATIC) != automatic:
                    automatic = data == AUTOMATIC
                    percent = None
                    switches += 1
            elif data[:2] == SET_PERCENT and not automatic and data[2] != percent:
                percent = data[2]
                changes += 1
        return cls(
            sent=len(commands),
            percent_commands=sum(1 for data in commands if data[:2] == SET_PERCENT),
            mode_switches=switches,
            changes=changes + switches,
        )


@dataclass(frozen=True, slots=True)
class Result:
    """One controller's run."""

    label: str
    writes: Writes
    peak_cpu: float
    mean_fan: float
    auto_share: float
    travel: float
    """Sum of the fans' duty changes, % (a 20 → 45 → 20 % swing is 50)."""


async def drive(
    label: str,
    sim: SimulatedIdrac,
    clock: ServerClock,
    profile: LoadProfile,
    poll: Callable[[], Awaitable[None]],
) -> Result:
    """Run the profile: physics sampled every server second, a poll every 15 s."""
    hottest: list[float] = []
    duty: list[float] = []
    automatic = 0
    for second in range(1, profile.seconds + 1):
        if (second - 1) % NOISE_SECONDS == 0:
            sim.set_load(profile.loads[(second - 1) // NOISE_SECONDS])
        clock.now += 1
        temperatures = sim.temperatures
        hottest.append(max(temperatures["cpu1"], temperatures["cpu2"]))
        duty.append(statistics.fmean(sim.fan_duties))
        automatic += sim.mode == "automatic"
        if second % POLL_SECONDS == 0:
            await poll()
    return Result(
        label=label,
        writes=Writes.count(sim.oem_log),
        peak_cpu=max(hottest),
        mean_fan=statistics.fmean(duty),
        auto_share=automatic / profile.seconds,
        travel=sum(abs(after - before) for before, after in pairwise(duty)),
    )


def client_for(sim: SimulatedIdrac) -> IdracClient:
    """Our client pointed at a simulator."""
    return IdracClient(
        ConnectionSettings(
            host="127.0.0.1", port=sim.port, username=USER, password=PASSWORD
        )
    )


async def run_ours(profile: LoadProfile, seed: int, options: dict[str, Any]) -> Result:
    """The integration in a Home Assistant test instance, preset curve; entry options as given."""
    clock = ServerClock()
    with SimulatedIdrac("r730", clock=clock, seed=seed, load=profile.loads[0]) as sim:
        async with async_test_home_assistant() as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # find ours, not the harness's
            entry = MockConfigEntry(
                domain=DOMAIN,
                title="r730",
                data={
                    CONF_HOST: "127.0.0.1",
                    CONF_PORT: sim.port,
                    CONF_USERNAME: USER,
                    CONF_PASSWORD: PASSWORD,
                    CONF_CIPHER_SUITE: CIPHER_SUITE_AUTO,
                },
                unique_id=str(uuid.UUID(bytes_le=sim.guid)),
                options=options,
            )
            entry.add_to_hass(hass)
            if not await hass.config_entries.async_setup(entry.entry_id):
                raise RuntimeError(
                    "the integration did not set up against the simulator"
                )
            coordinator: DellFanCoordinator = entry.runtime_data
            coordinator.clock = clock
            await coordinator.async_set_preset(PRESET_CURVE)
            try:
                return await drive(
                    "ours: curve (integration)",
                    sim,
                    clock,
                    profile,
                    coordinator.async_refresh,
                )
            finally:
                await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_stop(force=True)


async def run_threshold(
    profile: LoadProfile, seed: int, static_percent: int, threshold: int
) -> Result:
    """The peer's loop: static % at or below the threshold, Dell automatic above it.

    Without the peer's optional hysteresis, which only delays the return to the static %.
    """
    clock = ServerClock()
    with (
        SimulatedIdrac("r730", clock=clock, seed=seed, load=profile.loads[0]) as sim,
        client_for(sim) as client,
    ):
        cpus = tuple(
            sensor.key
            for sensor in client.sensors()
            if sensor.kind is SensorKind.CPU_TEMPERATURE
        )

        async def poll() -> None:
            readings = client.read(cpus)
            known = [value for value in readings.values() if value is not None]
            if len(known) < len(cpus) or max(known) > threshold:
                client.set_fan_mode_automatic()
            else:
                client.set_fan_mode_manual()
                client.set_fan_percent(static_percent)

        label = f"threshold: {static_percent} % to {threshold} °C, then Dell auto"
        return await drive(label, sim, clock, profile, poll)


def curve_target(settings: ControlSettings, load: float) -> float:
    """The CPU temperature at which the curve's own fan % holds the CPU steady at ``load``.

    Found on the simulator itself: the smallest % whose steady temperature the curve
    answers with no more than that %; that temperature is where the loop comes to rest.
    """
    clock = ServerClock()
    with (
        SimulatedIdrac("r730", clock=clock, load=load) as sim,
        client_for(sim) as client,
    ):
        client.set_fan_mode_manual()

        def steady(percent: int) -> float:
            client.set_fan_percent(percent)
            clock.now += 1200  # 30 CPU time constants
            temperatures = sim.temperatures
            return max(temperatures["cpu1"], temperatures["cpu2"])

        low, high = 0, 100  # the curve answers 100 % with at most 100 %
        while low < high:
            middle = (low + high) // 2
            if settings.target_percent(steady(middle)) <= middle:
                high = middle
            else:
                low = middle + 1
        return steady(low)


def _row(result: Result, hours: float) -> str:
    writes = result.writes
    return (
        f"{result.label:<44}{writes.fan_writes / hours:>9.1f}{writes.percent_commands / hours:>9.1f}"
        f"{writes.mode_switches / hours:>9.1f}{writes.changes / hours:>9.1f}{writes.sent / hours:>9.1f}"
        f"{result.travel / hours:>9.0f}{result.peak_cpu:>9.1f}{result.mean_fan:>9.1f}"
        f"{result.auto_share * 100:>9.1f}"
    )


def _ratio(theirs: int, ours: int) -> float:
    return theirs / ours if ours else math.inf


def _verdict(passed: bool) -> str:
    return "met" if passed else "MISSED"


async def _run(
    hours: float,
    seed: int,
    static_percents: list[int],
    threshold: int,
    options: dict[str, Any],
) -> None:
    profile = LoadProfile.build(hours, seed)
    settings = EntryOptions.from_mapping(options).control_settings(fixed_percent=None)
    ours = await run_ours(profile, seed, options)
    peers = [
        await run_threshold(profile, seed, pct, threshold) for pct in static_percents
    ]
    target = curve_target(settings, max(profile.loads))

    print(
        f"R730 simulator, {hours:g} h of server time, poll every {POLL_SECONDS} s, seed {seed}; "
        f"load {min(profile.loads):.2f}-{max(profile.loads):.2f}, "
        f"mean {statistics.fmean(profile.loads):.2f}"
    )
    print(
        f"ours: the real integration path; curve {settings.curve}, floor "
        f"{settings.floor_percent} %, hysteresis {settings.hysteresis:g} °C"
    )
    print(
        "writes = fan writes: every 02 ff NN sent (%cmd) + mode switches; "
        "changes = mode switches + % commands that changed the % in force; "
        "all = every 30 30 command (mode re-assertions included); "
        "travel = sum of the fans' duty changes, %; auto % = share of time in Dell auto"
    )
    print(
        f"{'per hour, or over the run':<44}{'writes':>9}{'%cmd':>9}{'mode sw':>9}"
        f"{'changes':>9}{'all':>9}{'travel':>9}{'peak °C':>9}{'fan %':>9}{'auto %':>9}"
    )
    for result in (ours, *peers):
        print(_row(result, hours))
    print(
        f"curve target (the curve's rest point at the highest load, "
        f"{max(profile.loads):.2f}): {target:.1f} °C"
    )
    print(
        f"peak {ours.peak_cpu:.1f} °C <= target + 2 = {target + 2:.1f} °C: "
        f"{_verdict(ours.peak_cpu <= target + 2)}"
    )
    for peer in peers:
        ratio = _ratio(peer.writes.fan_writes, ours.writes.fan_writes)
        print(
            f"vs {peer.label}: the peer makes {ratio:.2f}x our fan writes "
            f"(target >= 5: {_verdict(ratio >= 5)}; changes only: "
            f"{_ratio(peer.writes.changes, ours.writes.changes):.2f}x); mean fan "
            f"{ours.mean_fan:.1f} % vs {peer.mean_fan:.1f} % (target no higher: "
            f"{_verdict(ours.mean_fan <= peer.mean_fan)}); peak {ours.peak_cpu:.1f} vs "
            f"{peer.peak_cpu:.1f} °C"
        )


def main() -> None:
    """Parse arguments and run every controller on the same profile."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0, help="server hours")
    parser.add_argument("--seed", type=int, default=1, help="load noise and RPM noise")
    parser.add_argument(
        "--static",
        type=int,
        nargs="+",
        default=[20, 5],
        help="the threshold controller's static %%: 5 = the peer's default (and our "
        "curve's idle %%), 20 = a louder setting many users choose",
    )
    parser.add_argument(
        "--threshold",
        type=int,
        default=50,
        help="°C, the peer's default (fallback) threshold",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        type=_entry_option,
        metavar="NAME=VALUE",
        help="one of our entry options instead of its default, e.g. "
        "--option 'curve=40:20, 60:35, 75:60, 85:100' --option min_step_percent=5",
    )
    args = parser.parse_args()
    options = dict(args.option)
    asyncio.run(_run(args.hours, args.seed, args.static, args.threshold, options))


def _entry_option(text: str) -> tuple[str, Any]:
    """NAME=VALUE for an EntryOptions field; the value as the type of its default."""
    name, _, value = text.partition("=")
    default = getattr(EntryOptions(), name, None)
    if default is None or isinstance(default, tuple | bool):
        raise argparse.ArgumentTypeError(f"not a numeric or text entry option: {name}")
    try:
        return name, type(default)(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r}") from None


if __name__ == "__main__":
    main()
