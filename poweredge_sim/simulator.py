"""`SimulatedIdrac`: the public, in-process API of the simulator.

One instance = one UDP socket on 127.0.0.1, one IO thread, one lock. The
IO thread only moves datagrams; every state change happens under the lock,
so tests may call the API from any thread while clients talk over UDP.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import random
import select
import socket
import struct
import threading
import time
from typing import Any, Self
import uuid

from .bmc import Counters, IdracBmc, OemLogEntry, SessionInfo
from .faults import Faults, FaultyTransmitter
from .fru import FruIdentity, fru_image
from .machine import Machine, SimClock
from .models import MODELS, SensorSpec
from .service import Service

_LOGGER = logging.getLogger(__name__)

# How often the IO loop wakes up when idle, to expire sessions and notice stop().
_POLL_INTERVAL = 0.05
_MAX_DATAGRAM = 4096


class SimulatedIdrac(Service):
    """A virtual Dell iDRAC answering IPMI-LAN (RMCP+) on 127.0.0.1.

    Use as a context manager (or call `start()`/`stop()`):

        with SimulatedIdrac(model="r730") as sim:
            run_client("127.0.0.1", sim.port)
    """

    def __init__(
        self,
        model: str = "r730",
        *,
        user: str = "root",
        password: str = "calvin",  # noqa: S107 - the iDRAC factory default
        port: int = 0,
        host: str = "127.0.0.1",
        time_scale: float = 1.0,
        clock: Callable[[], float] | None = None,
        ambient: float = 24.0,
        load: float = 0.2,
        system_name: str | None = None,
        service_tag: str | None = None,
        max_sessions: int = 5,
        session_timeout: float = 60.0,
        revert_manual_after: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Create a stopped simulator; see README.md for every parameter."""
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}, choose one of {sorted(MODELS)}")
        self.model = MODELS[model]
        self._requested_address = (host, port)
        self._clock = SimClock(time_scale, clock or time.monotonic)
        self._machine = Machine(
            self.model,
            self._clock,
            ambient=ambient,
            load=load,
            seed=seed,
            revert_manual_after=revert_manual_after,
        )
        self._faults = Faults()
        self._rng = random.Random(seed)  # noqa: S311 - fault dice, not crypto
        self._users: dict[str, str] = {user: password}
        self._system_name = (
            f"{self.model.key}-sim" if system_name is None else system_name
        )
        self._max_sessions = max_sessions
        self._session_timeout = session_timeout
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._port: int | None = None
        self._bmc: IdracBmc | None = None
        # IPMI sends the GUID least significant byte first (spec section 20.8).
        self._guid = uuid.uuid4().bytes[::-1]
        # Dell Service Tags: 7 characters of digits and capitals (no vowels in practice).
        # Taken from the GUID, not self._rng, so that seeded fault dice stay as they were.
        alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"
        tag = service_tag or "".join(
            alphabet[b % len(alphabet)] for b in self._guid[:7]
        )
        self.fru = FruIdentity(
            product=self.model.product,
            service_tag=tag,
            board_serial=f"CN747{tag}0123",
            board_part="0WCJNTA05",
        )

    # ---- lifecycle -----------------------------------------------------------
    def start(self) -> Self:
        """Bind the socket and start answering."""
        if self._thread is not None:
            raise RuntimeError("simulator already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(self._requested_address)
        sock.setblocking(False)
        self._sock = sock
        self._port = int(sock.getsockname()[1])
        self._bmc = IdracBmc(
            guid=self._guid,
            model=self.model,
            machine=self._machine,
            users=self._users,
            transmitter=FaultyTransmitter(sock, self._faults, self._rng),
            faults=self._faults,
            system_name=self._system_name,
            fru_image=fru_image(self.fru),
            max_sessions=self._max_sessions,
            session_timeout=self._session_timeout,
        )
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"poweredge-sim-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, join the IO thread and close the socket."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        if self._sock is not None:
            self._sock.close()

    def _serve(self) -> None:
        sock, bmc = self._sock, self._bmc
        assert sock is not None and bmc is not None
        transmitter = bmc.transmitter
        while not self._stopping.is_set():
            timeout = _POLL_INTERVAL
            if (due := transmitter.next_due()) is not None:
                timeout = max(0.0, min(timeout, due - time.monotonic()))
            readable, _, _ = select.select([sock], [], [], timeout)
            with self._lock:
                if readable:
                    self._drain(sock, bmc)
                transmitter.flush_due()
                bmc.expire_idle_sessions()

    def _drain(self, sock: socket.socket, bmc: IdracBmc) -> None:
        while True:
            try:
                data, address = sock.recvfrom(_MAX_DATAGRAM)
            except BlockingIOError:
                return
            except OSError:
                return  # e.g. ICMP port unreachable from a client that left
            try:
                bmc.receive(data, address)
            except IndexError, ValueError, struct.error:
                # A short or malformed datagram: a real BMC drops it silently.
                _LOGGER.debug(
                    "dropped malformed datagram from %s", address, exc_info=True
                )
            except Exception:
                _LOGGER.exception(
                    "simulator bug while handling a datagram from %s", address
                )

    # ---- where to connect ------------------------------------------------------
    @property
    def port(self) -> int:
        """Return the UDP port the simulator listens (or listened) on."""
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    @property
    def host(self) -> str:
        """Return the address to connect to."""
        return self._requested_address[0]

    @property
    def user(self) -> str:
        """Return the (first) user name."""
        return next(iter(self._users))

    @property
    def password(self) -> str:
        """Return the (first) user's password."""
        return self._users[self.user]

    @property
    def guid(self) -> bytes:
        """Return the 16 bytes Get System GUID answers (fixed per instance)."""
        return self._guid

    def _running_bmc(self) -> IdracBmc:
        if self._bmc is None:
            raise RuntimeError("simulator not started")
        return self._bmc

    # ---- the environment -------------------------------------------------------
    def set_load(self, load: float) -> None:
        """Set the CPU load (0.0-1.0); temperatures follow with a lag."""
        with self._lock:
            self._machine.load = load

    def set_ambient(self, celsius: float) -> None:
        """Set the inlet air temperature."""
        with self._lock:
            self._machine.ambient = celsius

    def set_power(self, on: bool) -> None:
        """Switch the host on or off; when off only the inlet sensor reads."""
        with self._lock:
            self._machine.set_power(on)

    def advance(self, seconds: float) -> None:
        """Move server time forward; the thermal model catches up on next read."""
        with self._lock:
            self._clock.advance(seconds)

    @property
    def now(self) -> float:
        """Return server time in seconds since the simulator was created."""
        with self._lock:
            return self._clock.now()

    @property
    def system_name(self) -> str:
        """Return the System Name that Get System Info reports."""
        return self._system_name

    @system_name.setter
    def system_name(self, name: str) -> None:
        with self._lock:
            self._system_name = name
            if self._bmc is not None:
                self._bmc.system_name = name

    # ---- faults -----------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """Return the live fault settings (mutate them, or use set_faults)."""
        return self._faults

    def set_faults(self, **changes: Any) -> None:
        """Set faults by name: drop_rate, delay, garbage_rate, truncate_rate, ..."""
        with self._lock:
            self._faults.update(**changes)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def override_completion_code(
        self, netfn: int, command: int, code: int | None
    ) -> None:
        """Answer (netfn, command) with `code` from now on; None removes it."""
        with self._lock:
            if code is None:
                self._faults.completion_codes.pop((netfn, command), None)
            else:
                self._faults.completion_codes[netfn, command] = code

    def restart_bmc(self, downtime: float = 0.0) -> None:
        """Reboot the iDRAC: drop all sessions, revert to automatic fans.

        During `downtime` (real seconds) every datagram is ignored.
        """
        with self._lock:
            self._running_bmc().restart(downtime)

    def disable_sensor(self, name_or_number: str | int) -> None:
        """Make sensors read "Disabled" (every sensor of that name, e.g. Temp)."""
        with self._lock:
            self._machine.disabled_sensors.update(self._sensor_numbers(name_or_number))

    def enable_sensor(self, name_or_number: str | int) -> None:
        """Undo `disable_sensor` (the model's own disabled sensors stay disabled)."""
        with self._lock:
            self._machine.disabled_sensors.difference_update(
                self._sensor_numbers(name_or_number)
            )

    def _sensor_numbers(self, name_or_number: str | int) -> set[int]:
        numbers = {
            s.number for s in self.model.sensors if name_or_number in (s.name, s.number)
        }
        if not numbers:
            raise KeyError(f"no sensor {name_or_number!r} on {self.model.key}")
        return numbers

    # ---- state ---------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """Return "automatic" or "manual" (what the iDRAC believes now)."""
        with self._lock:
            return self._machine.mode.value

    @property
    def fan_duty(self) -> float | None:
        """Return the all-fans duty set in manual mode, None otherwise."""
        with self._lock:
            return self._machine.manual_duty

    @property
    def fan_duties(self) -> list[float]:
        """Return the duty each fan rotor runs at, whoever set it."""
        with self._lock:
            return self._machine.fan_duties()

    @property
    def temperatures(self) -> dict[str, float]:
        """Return the physical temperatures: inlet, cpu1, cpu2, exhaust, planar."""
        with self._lock:
            return self._machine.temperatures()

    @property
    def pcie_cooling_response(self) -> bool:
        """Return whether the third-party PCIe cooling response is enabled."""
        with self._lock:
            return self._machine.pcie_cooling_response

    def readings(self) -> list[tuple[SensorSpec, float | None]]:
        """Return every sensor with the value a client would read (None = none)."""
        with self._lock:
            return [
                (sensor, self._machine.reading(sensor).value)
                for sensor in self.model.sensors
            ]

    @property
    def oem_log(self) -> list[OemLogEntry]:
        """Return every Dell OEM (netfn 0x30) request received, oldest first."""
        with self._lock:
            return list(self._running_bmc().oem_log)

    @property
    def counters(self) -> Counters:
        """Return packet, session and per-command counters."""
        with self._lock:
            return self._running_bmc().counters()

    @property
    def open_sessions(self) -> list[SessionInfo]:
        """Return the session table (including half-open handshakes)."""
        with self._lock:
            return self._running_bmc().session_table()

    def state(self) -> dict[str, Any]:
        """Return everything observable as JSON-ready data (control channel)."""
        with self._lock:
            counters = self.counters
            return {
                "model": self.model.key,
                "port": self.port,
                "now": self.now,
                "mode": self.mode,
                "fan_duty": self.fan_duty,
                "fan_duties": self.fan_duties,
                "temperatures": self.temperatures,
                "load": self._machine.load,
                "ambient": self._machine.ambient,
                "powered": self._machine.powered,
                "pcie_cooling_response": self.pcie_cooling_response,
                "readings": [
                    {"name": s.name, "number": s.number, "value": v}
                    for s, v in self.readings()
                ],
                "counters": {
                    "packets_in": counters.packets_in,
                    "packets_out": counters.packets_out,
                    "packets_dropped": counters.packets_dropped,
                    "sessions_open": counters.sessions_open,
                    "sessions_total": counters.sessions_total,
                    "sessions_refused": counters.sessions_refused,
                    "commands": {
                        f"{netfn:#04x}/{cmd:#04x}": n
                        for (netfn, cmd), n in sorted(counters.commands.items())
                    },
                },
                "oem_log": [
                    {
                        "time": e.time,
                        "netfn": e.netfn,
                        "command": e.command,
                        "data": e.data.hex(" "),
                        "completion_code": e.completion_code,
                    }
                    for e in self.oem_log
                ],
                "faults": self._faults.as_json(),
            }
