"""Round trip of a cached-sensor read against poweredge_sim on loopback.

A "cached-sensor read" is what a poller does once the SDRs are cached: one
Get Sensor Reading over an already open python-ipmi RMCP+ session (cipher
suite 3). Prints the median and 95th percentile round trip (target: median
< 2 ms) and the UDP datagrams per read (expected: 2, request and reply).

    scripts/run python benchmarks/sim_roundtrip.py [--reads N] [--model r730]

The simulator runs in this process on its own thread, as in the tests; the
client and the server therefore share one interpreter (and its GIL).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import time

import pyipmi
import pyipmi.interfaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from poweredge_sim import SimulatedIdrac


def main() -> None:
    """Open one session, time N sensor reads, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--model", default="r730")
    args = parser.parse_args()

    with SimulatedIdrac(args.model) as sim:
        interface = pyipmi.interfaces.create_interface(
            "rmcpplus", keep_alive_interval=0, cipher_suite=3
        )
        ipmi = pyipmi.create_connection(interface)
        ipmi.session.set_session_type_rmcp("127.0.0.1", port=sim.port)
        ipmi.session.set_auth_type_user(sim.user, sim.password)
        ipmi.target = pyipmi.Target(ipmb_address=0x20)
        ipmi.open()
        try:
            sensor = sim.model.sensors[0]
            number = sensor.number
            for _ in range(50):  # warm up caches and the branch predictor
                ipmi.get_sensor_reading(number)
            before = sim.counters
            times = []
            for _ in range(args.reads):
                started = time.perf_counter()
                ipmi.get_sensor_reading(number)
                times.append(time.perf_counter() - started)
            after = sim.counters
        finally:
            ipmi.close()

    packets = (after.packets_in - before.packets_in) + (
        after.packets_out - before.packets_out
    )
    times.sort()
    print(f"model                 {args.model} ({sensor.name}, sensor {number:#04x})")
    print(f"reads                 {args.reads}")
    print(
        f"median round trip     {statistics.median(times) * 1000:.3f} ms (target < 2 ms)"
    )
    print(f"p95 round trip        {times[int(len(times) * 0.95)] * 1000:.3f} ms")
    print(f"UDP datagrams / read  {packets / args.reads:.2f} (expected 2)")


if __name__ == "__main__":
    main()
