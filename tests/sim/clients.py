"""Independent clients for the simulator tests: Debian's ipmitool and python-ipmi.

Neither shares code with poweredge_sim, so agreement with them means the
simulator speaks IPMI, not merely its own dialect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import re
import subprocess

import pyipmi
import pyipmi.interfaces

from poweredge_sim import SimulatedIdrac


def ipmitool(
    sim: SimulatedIdrac,
    *args: str,
    cipher: int = 17,
    user: str | None = None,
    password: str | None = None,
    verbose: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one ipmitool lanplus command against the simulator (1 s timeout, 1 retry)."""
    command = [
        "ipmitool",
        "-I",
        "lanplus",
        "-H",
        "127.0.0.1",
        "-p",
        str(sim.port),
        "-U",
        sim.user if user is None else user,
        "-P",
        sim.password if password is None else password,
        "-C",
        str(cipher),
        "-N",
        "1",
        "-R",
        "1",
    ]
    if verbose:
        command.append("-vv")
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False
    )


def sdr_list(sim: SimulatedIdrac, cipher: int = 17) -> list[tuple[str, str, str]]:
    """Return `ipmitool sdr list` as (name, value, status) rows."""
    result = ipmitool(sim, "sdr", "list", cipher=cipher)
    assert result.returncode == 0, result.stderr
    return [
        (name.strip(), value.strip(), status.strip())
        for name, value, status in (
            line.split("|") for line in result.stdout.splitlines()
        )
    ]


def rpm_values(rows: list[tuple[str, str, str]]) -> dict[str, float]:
    """Return the RPM readings of `sdr list` rows by sensor name."""
    return {
        name: float(match.group(1))
        for name, value, _ in rows
        if (match := re.fullmatch(r"([\d.]+) RPM", value))
    }


@contextmanager
def pyipmi_session(
    sim: SimulatedIdrac, *, cipher_suite: int = 3, password: str | None = None
) -> Iterator[pyipmi.Ipmi]:
    """Open a python-ipmi RMCP+ session (no keep-alive thread); close it after."""
    interface = pyipmi.interfaces.create_interface(
        "rmcpplus", keep_alive_interval=0, cipher_suite=cipher_suite
    )
    ipmi = pyipmi.create_connection(interface)
    ipmi.session.set_session_type_rmcp("127.0.0.1", port=sim.port)
    ipmi.session.set_auth_type_user(
        sim.user, sim.password if password is None else password
    )
    ipmi.target = pyipmi.Target(ipmb_address=0x20)
    try:
        ipmi.open()
        yield ipmi
    finally:
        ipmi.close()


def send_raw(ipmi: pyipmi.Ipmi, netfn: int, data: bytes) -> bytes:
    """Send a raw request; return the response starting with the completion code."""
    return bytes(ipmi.interface.send_and_receive_raw(ipmi.target, 0, netfn, data))
