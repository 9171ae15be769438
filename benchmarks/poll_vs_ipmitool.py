"""Poll cost: our client vs. the ipmitool loop Dell fan controllers run every cycle.

Not a test: prints UDP packets (counted by the simulator) and wall time of one
steady-state poll of an R730, with a per-reply delay injected in the simulator so the
round trips cost what they cost on a LAN with a busy iDRAC.

    scripts/run python -m benchmarks.poll_vs_ipmitool [--delay 0.005] [--cycles 5]

Ours: one persistent RMCP+ session, SDR read once; a poll is one Get Sensor Reading
per sensor (all 13 R730 sensors, power included). Peers: `ipmitool -I lanplus ...
sdr type temperature` then `sdr type fan` (12 sensors), each a new session that walks
the SDR again.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
import statistics
import subprocess
import time

from custom_components.dell_fan_control.idrac import ConnectionSettings, IdracClient
from poweredge_sim import SimulatedIdrac

USER = "root"
PASSWORD = "calvin"  # noqa: S105 - the simulator's (and the iDRAC's factory) default


@dataclass(frozen=True, slots=True)
class PollCost:
    """Median cost of one poll cycle."""

    packets: int
    seconds: float


def _packets(sim: SimulatedIdrac) -> int:
    counters = sim.counters
    return counters.packets_in + counters.packets_out


def _measure(sim: SimulatedIdrac, poll: Callable[[], object], cycles: int) -> PollCost:
    packets: list[int] = []
    seconds: list[float] = []
    for _ in range(cycles):
        before = _packets(sim)
        started = time.perf_counter()
        poll()
        seconds.append(time.perf_counter() - started)
        packets.append(_packets(sim) - before)
    return PollCost(int(statistics.median(packets)), statistics.median(seconds))


def measure_client(sim: SimulatedIdrac, cycles: int) -> tuple[PollCost, int]:
    """Our steady-state poll; returns the cost and the number of sensors read."""
    settings = ConnectionSettings(
        host="127.0.0.1", port=sim.port, username=USER, password=PASSWORD
    )
    with IdracClient(settings) as client:
        keys = [sensor.key for sensor in client.sensors()]
        client.read(keys)  # first poll: session and SDR are set up before we measure
        return _measure(sim, lambda: client.read(keys), cycles), len(keys)


def measure_ipmitool(sim: SimulatedIdrac, cycles: int) -> PollCost:
    """The peers' cycle: two ipmitool processes, each a full session and SDR walk."""
    base = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(sim.port)]
    base += ["-U", USER, "-P", PASSWORD, "sdr", "type"]

    def cycle() -> None:
        for sensor_type in ("temperature", "fan"):
            subprocess.run(
                [*base, sensor_type], check=True, capture_output=True, timeout=60
            )

    return _measure(sim, cycle, cycles)


def main() -> None:
    """Run both on one simulator and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--delay", type=float, default=0.005, help="seconds added per reply"
    )
    parser.add_argument("--cycles", type=int, default=5, help="polls measured (median)")
    args = parser.parse_args()

    with SimulatedIdrac(model="r730", user=USER, password=PASSWORD) as sim:
        sim.set_faults(delay=args.delay)
        ours, sensors = measure_client(sim, args.cycles)
        peers = measure_ipmitool(sim, args.cycles)

    print(
        f"R730 simulator, {args.delay * 1000:g} ms added per reply, median of {args.cycles}"
    )
    print(f"{'':34}{'UDP packets':>12}{'wall time':>12}")
    print(
        f"{'dell_fan_control (' + str(sensors) + ' sensors)':34}{ours.packets:>12}"
        f"{ours.seconds * 1000:>10.1f}ms"
    )
    print(
        f"{'ipmitool sdr type temperature+fan':34}{peers.packets:>12}"
        f"{peers.seconds * 1000:>10.1f}ms"
    )
    print(
        f"{'ratio':34}{peers.packets / ours.packets:>11.1f}x"
        f"{peers.seconds / ours.seconds:>11.1f}x"
    )


if __name__ == "__main__":
    main()
