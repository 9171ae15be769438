"""Fault injection: what goes wrong on the wire and in the BMC.

All outgoing datagrams pass through `FaultyTransmitter`, so every fault
applies equally to handshakes, sessionless replies and IPMI responses.
Delayed datagrams are queued here and sent by the simulator's IO loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
import heapq
import itertools
import random
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Buffer


@dataclass(slots=True)
class Faults:
    """The faults currently injected; change fields at any time.

    Rates are shares of outgoing datagrams (0.0-1.0). `delay` is in real
    seconds, since clients time out in real time whatever the time scale.
    """

    drop_rate: float = 0.0
    delay: float = 0.0
    garbage_rate: float = 0.0
    truncate_rate: float = 0.0
    # Length a truncated datagram is cut to; 0 = a random length. 1-3 bytes is a
    # runt shorter than the RMCP header.
    truncate_to: int = 0
    session_table_full: bool = False
    # Get SDR asking for more bytes than this (0xFF = "the rest" included)
    # answers 0xCA, as BMCs with a small IPMB buffer do; None = no limit.
    sdr_read_limit: int | None = None
    # (netfn, command) -> completion code returned instead of the answer
    completion_codes: dict[tuple[int, int], int] = field(default_factory=dict)

    def update(self, **changes: Any) -> None:
        """Set several fields by name, refusing unknown names and bad rates."""
        names = {f.name for f in fields(self)}
        for name, value in changes.items():
            if name not in names:
                raise ValueError(f"unknown fault {name!r}")
            if name.endswith("_rate") and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0.0 and 1.0")
            setattr(self, name, value)

    def as_json(self) -> dict[str, Any]:
        """Return the faults as JSON-ready data."""
        data: dict[str, Any] = {
            spec.name: getattr(self, spec.name)
            for spec in fields(self)
            if spec.name != "completion_codes"
        }
        data["completion_codes"] = [
            {"netfn": netfn, "command": command, "code": code}
            for (netfn, command), code in sorted(self.completion_codes.items())
        ]
        return data

    def clear(self) -> None:
        """Remove every fault."""
        for spec in fields(self):
            if spec.name == "completion_codes":
                self.completion_codes.clear()
            else:
                setattr(self, spec.name, spec.default)


class FaultyTransmitter:
    """A socket stand-in for pyghmi that counts, damages, drops or delays."""

    def __init__(self, sock: socket.socket, faults: Faults, rng: random.Random) -> None:
        self._sock = sock
        self._faults = faults
        self._rng = rng
        self._queue: list[tuple[float, int, bytes, tuple[str, int]]] = []
        self._order = itertools.count()
        self.packets_out = 0
        self.packets_dropped = 0

    def setblocking(self, flag: bool) -> None:
        """Ignore pyghmi's request; sends on a UDP socket do not block here."""

    def sendto(self, packet: Buffer, address: tuple[str, int]) -> int:
        """Apply the faults to one datagram, then send or queue it."""
        data = bytes(packet)
        faults = self._faults
        if self._rng.random() < faults.drop_rate:
            self.packets_dropped += 1
            return len(data)
        if self._rng.random() < faults.garbage_rate:
            data = self._rng.randbytes(len(data))
        elif self._rng.random() < faults.truncate_rate:
            data = data[: faults.truncate_to or self._rng.randrange(1, len(data))]
        if faults.delay > 0:
            due = time.monotonic() + faults.delay
            heapq.heappush(self._queue, (due, next(self._order), data, address))
        else:
            self._send(data, address)
        return len(data)

    def next_due(self) -> float | None:
        """Return when the next delayed datagram is due (monotonic), if any."""
        return self._queue[0][0] if self._queue else None

    def flush_due(self) -> None:
        """Send the delayed datagrams whose time has come."""
        now = time.monotonic()
        while self._queue and self._queue[0][0] <= now:
            _, _, data, address = heapq.heappop(self._queue)
            self._send(data, address)

    def _send(self, data: bytes, address: tuple[str, int]) -> None:
        try:
            self._sock.sendto(data, address)
        except OSError:
            return  # the peer's socket is gone; UDP has no one to tell
        self.packets_out += 1
