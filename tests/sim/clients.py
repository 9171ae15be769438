"""Independent clients for the simulator tests: Debian's ipmitool and python-ipmi.

Neither shares code with poweredge_sim, so agreement with them means the
simulator speaks IPMI, not merely its own dialect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import re
import socket
import struct
import subprocess
from typing import Any

import pyipmi
import pyipmi.interfaces
from pyipmi.interfaces.rmcp import RMCP_CLASS_IPMI, RmcpMsg
from pyipmi.interfaces.rmcpplus import pack_rmcpplus, unpack_rmcpplus

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


def open_pyipmi(
    sim: SimulatedIdrac,
    *,
    cipher_suite: int = 3,
    password: str | None = None,
    privilege: str = "administrator",
) -> pyipmi.Ipmi:
    """Open a python-ipmi RMCP+ session without its keep-alive thread."""
    interface = pyipmi.interfaces.create_interface(
        "rmcpplus", keep_alive_interval=0, cipher_suite=cipher_suite
    )
    ipmi = pyipmi.create_connection(interface)
    ipmi.session.set_session_type_rmcp("127.0.0.1", port=sim.port)
    ipmi.session.set_auth_type_user(
        sim.user, sim.password if password is None else password
    )
    ipmi.session.set_priv_level(privilege)
    ipmi.target = pyipmi.Target(ipmb_address=0x20)
    try:
        ipmi.open()
    except BaseException:
        interface.close()
        raise
    return ipmi


@contextmanager
def pyipmi_session(sim: SimulatedIdrac, **kwargs: Any) -> Iterator[pyipmi.Ipmi]:
    """`open_pyipmi` as a context manager that closes the session after."""
    ipmi = open_pyipmi(sim, **kwargs)
    try:
        yield ipmi
    finally:
        ipmi.close()


def send_raw(ipmi: pyipmi.Ipmi, netfn: int, data: bytes) -> bytes:
    """Send a raw request; return the response starting with the completion code."""
    return bytes(ipmi.interface.send_and_receive_raw(ipmi.target, 0, netfn, data))


class RawConsole:
    """A hand-driven RMCP+ console for checking handshake status codes.

    Uses python-ipmi's RMCP+ framing helpers; the HMACs are computed here
    from the IPMI 2.0 spec (section 13.31), not taken from the simulator.
    """

    CONSOLE_ID = 0xA0A1A2A3

    def __init__(self, sim: SimulatedIdrac) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(1.0)
        self.sock.connect(("127.0.0.1", sim.port))

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def send(self, datagram: bytes) -> bytes:
        """Send one datagram and return the reply datagram."""
        self.sock.send(datagram)
        return self.sock.recv(4096)

    def exchange(self, payload_type: int, payload: bytes) -> bytes:
        """Send an unauthenticated RMCP+ payload; return the reply payload."""
        sdu = pack_rmcpplus(payload_type, payload)
        reply = RmcpMsg().unpack(self.send(RmcpMsg(RMCP_CLASS_IPMI).pack(sdu, 0xFF)))
        return unpack_rmcpplus(reply)[3]

    def open_session(self, algorithms: tuple[int, int, int] = (3, 4, 1)) -> bytes:
        """Send an Open Session Request for (auth, integrity, confidentiality)."""
        request = struct.pack("<BBxxI", 1, 4, self.CONSOLE_ID)
        for kind, algorithm in enumerate(algorithms):
            request += struct.pack("<BxxBBxxx", kind, 8, algorithm)
        return self.exchange(0x10, request)

    def rakp1(self, managed_id: int, rm: bytes, user: bytes, role: int = 0x14) -> bytes:
        """Send RAKP message 1; return RAKP message 2."""
        request = (
            struct.pack("<BxxxI16sBxxB", 2, managed_id, rm, role, len(user)) + user
        )
        return self.exchange(0x12, request)

    def rakp3(self, managed_id: int, auth_code: bytes) -> bytes:
        """Send RAKP message 3; return RAKP message 4."""
        return self.exchange(0x14, struct.pack("<BBxxI", 3, 0, managed_id) + auth_code)
