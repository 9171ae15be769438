"""The simulated iDRAC: packet routing, the session table and IPMI commands.

`IdracBmc` subclasses pyghmi's `Bmc` and keeps its dispatch for Get Device
ID and the chassis commands (answered through the `get_power_state` /
`power_*` hooks). It replaces pyghmi's IO (global tables and an unstoppable
daemon thread) with `receive()`, called by the simulator's own IO loop, and
adds what pyghmi lacks: the presence ping, cipher suite negotiation, the SDR
repository, sensors, System Info and the Dell OEM commands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import os
import struct
import time
from typing import Any

from pyghmi.ipmi.bmc import Bmc

from .faults import Faults, FaultyTransmitter
from .machine import FanMode, Machine
from .models import ModelSpec, SensorSpec
from .sdr import SDR_VERSION, SdrRepository, sensor_reading_bytes, threshold_bytes
from .session import (
    CIPHER_SUITES,
    Endpoint,
    PayloadType,
    Privilege,
    RmcpPlusSession,
    RmcpStatus,
    SessionlessExchange,
    SessionState,
)

DELL_MANUFACTURER_ID = 674
ASF_IANA = 4542
RMCP_CLASS_ASF = 0x06
RMCP_CLASS_IPMI = 0x07
ASF_PRESENCE_PING = 0x80
ASF_PRESENCE_PONG = 0x40
LAN_CHANNEL = 0x01

NETFN_CHASSIS = 0x00
NETFN_SENSOR = 0x04
NETFN_APP = 0x06
NETFN_STORAGE = 0x0A
NETFN_DELL = 0x30

CMD_GET_CHANNEL_AUTH_CAPS = 0x38
CMD_GET_CHANNEL_CIPHER_SUITES = 0x54
CMD_DELL_FAN = 0x30
CMD_DELL_PCIE_COOLING = 0xCE

CC_OK = 0x00
CC_INVALID_COMMAND = 0xC1
CC_RESERVATION_INVALID = 0xC5
CC_LENGTH_INVALID = 0xC7
CC_OUT_OF_RANGE = 0xC9
CC_CANNOT_RETURN_BYTES = 0xCA
CC_NOT_PRESENT = 0xCB
CC_INVALID_DATA = 0xCC
CC_INSUFFICIENT_PRIVILEGE = 0xD4
CC_PARAMETER_NOT_SUPPORTED = 0x80
# Read FRU Data answers at most this many bytes (0xCA beyond), like a small BMC buffer.
FRU_READ_LIMIT = 32

SESSIONLESS_COMMANDS = {
    (NETFN_APP, CMD_GET_CHANNEL_AUTH_CAPS),
    (NETFN_APP, CMD_GET_CHANNEL_CIPHER_SUITES),
}
# Commands above User privilege; everything on the Dell netfn needs Administrator.
REQUIRED_PRIVILEGE = {
    (NETFN_CHASSIS, 0x02): Privilege.OPERATOR,  # chassis control
    (NETFN_APP, 0x02): Privilege.ADMINISTRATOR,  # cold reset
}

# Auth caps after the channel: IPMI 2.0 extended caps, no v1.5 auth types,
# non-null user names only, IPMI 2.0 supported, no OEM id.
AUTH_CAPABILITIES = bytes([0x80, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00])
SYSTEM_NAME_PARAMETER = 0x02
SYSTEM_INFO_REVISION = 0x11
PCIE_COOLING_KEY = bytes([0x16, 0x05, 0x00, 0x00, 0x00])
PCIE_COOLING_VALUE_PREFIX = bytes([0x05, 0x00])

Reply = tuple[int, bytes]


@dataclass(frozen=True, slots=True)
class OemLogEntry:
    """One request on the Dell OEM netfn, as received, with its answer."""

    time: float  # server clock seconds
    netfn: int
    command: int
    data: bytes
    completion_code: int


@dataclass(frozen=True, slots=True)
class Counters:
    """A snapshot of what the BMC has seen and done."""

    packets_in: int
    packets_out: int
    packets_dropped: int
    sessions_open: int
    sessions_total: int
    sessions_refused: int
    commands: dict[tuple[int, int], int]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """An entry of the session table."""

    managed_id: int
    username: str
    cipher_suite: int
    privilege: int
    state: str
    address: tuple[str, int]
    idle_seconds: float


class IdracBmc(Bmc):  # type: ignore[misc]  # pyghmi is untyped
    """A Dell iDRAC as seen over IPMI-LAN."""

    def __init__(
        self,
        *,
        guid: bytes,
        model: ModelSpec,
        machine: Machine,
        users: Mapping[str, str],
        transmitter: FaultyTransmitter,
        faults: Faults,
        system_name: str,
        fru_image: bytes,
        max_sessions: int,
        session_timeout: float,
    ) -> None:
        # Not calling IpmiServer.__init__: it binds through pyghmi's global
        # socket pool and starts its process-wide IO thread.
        self.model = model
        self.machine = machine
        self.users = users
        self.transmitter = transmitter
        self.faults = faults
        self.system_name = system_name
        self.fru_image = fru_image
        self.max_sessions = max_sessions
        self.session_timeout = session_timeout
        self.guid = guid
        self.sdr = SdrRepository(model.sensors)
        self.sensors: dict[int, SensorSpec] = {s.number: s for s in model.sensors}
        self.sessions: dict[int, RmcpPlusSession] = {}
        self.oem_log: list[OemLogEntry] = []
        self.commands: Counter[tuple[int, int]] = Counter()
        self.packets_in = 0
        self.sessions_total = 0
        self.sessions_refused = 0
        self.unresponsive_until = 0.0
        self._reservation = 0
        self._handlers: dict[tuple[int, int], Callable[[bytes], Reply]] = {
            (NETFN_APP, CMD_GET_CHANNEL_AUTH_CAPS): self._channel_auth_caps,
            (NETFN_APP, CMD_GET_CHANNEL_CIPHER_SUITES): self._channel_cipher_suites,
            (NETFN_APP, 0x37): self._system_guid,
            (NETFN_APP, 0x59): self._system_info,
            (NETFN_SENSOR, 0x27): self._sensor_thresholds,
            (NETFN_SENSOR, 0x2D): self._sensor_reading,
            (NETFN_STORAGE, 0x10): self._fru_inventory_area_info,
            (NETFN_STORAGE, 0x11): self._read_fru_data,
            (NETFN_STORAGE, 0x20): self._sdr_repository_info,
            (NETFN_STORAGE, 0x22): self._reserve_sdr_repository,
            (NETFN_STORAGE, 0x23): self._get_sdr,
            (NETFN_DELL, CMD_DELL_FAN): self._dell_fan,
            (NETFN_DELL, CMD_DELL_PCIE_COOLING): self._dell_pcie_cooling,
        }

    # ---- packet routing ------------------------------------------------
    def receive(self, data: bytes, address: tuple[str, int]) -> None:
        """Handle one datagram from the network."""
        self.packets_in += 1
        if time.monotonic() < self.unresponsive_until:
            return
        if len(data) < 5 or data[0] != 0x06:
            return
        if data[3] == RMCP_CLASS_ASF:
            self._presence_ping(data, address)
        elif data[3] == RMCP_CLASS_IPMI and data[4] == 0x00:
            self._ipmi15(data, address)
        elif data[3] == RMCP_CLASS_IPMI and data[4] == 0x06:
            self._rmcp_plus(data, address)

    def _presence_ping(self, data: bytes, address: tuple[str, int]) -> None:
        iana, message_type, tag = struct.unpack("!IBB", data[4:10])
        if iana != ASF_IANA or message_type != ASF_PRESENCE_PING:
            return
        pong = bytes([0x06, 0x00, data[2], RMCP_CLASS_ASF])
        pong += struct.pack("!IBBxB", ASF_IANA, ASF_PRESENCE_PONG, tag, 16)
        # IANA, no OEM data, "IPMI supported" + ASF 1.0, no interactions.
        pong += struct.pack("!IIBB6x", ASF_IANA, 0, 0x81, 0x00)
        self.transmitter.sendto(pong, address)

    def _ipmi15(self, data: bytes, address: tuple[str, int]) -> None:
        """IPMI 1.5 framing: only the unauthenticated, sessionless requests."""
        session_id = struct.unpack("<I", data[9:13])[0]
        if session_id != 0:
            return
        message = data[14 : 14 + data[13]]
        SessionlessExchange(self, self.transmitter, address, rmcp_plus=False).feed(
            message
        )

    def _rmcp_plus(self, data: bytes, address: tuple[str, int]) -> None:
        payload_type = data[5] & 0x3F
        session_id = struct.unpack("<I", data[6:10])[0]
        payload = data[16:]
        if payload_type == PayloadType.OPEN_SESSION_REQUEST:
            self._open_session(payload, address)
        elif payload_type in (PayloadType.RAKP1, PayloadType.RAKP3):
            managed_id = struct.unpack("<I", payload[4:8])[0]
            if (session := self.sessions.get(managed_id)) is not None:
                session.receive(data)
        elif payload_type == PayloadType.IPMI and session_id == 0:
            length = struct.unpack("<H", data[14:16])[0]
            exchange = SessionlessExchange(
                self, self.transmitter, address, rmcp_plus=True
            )
            exchange.feed(payload[:length])
        elif payload_type == PayloadType.IPMI and (
            session := self.sessions.get(session_id)
        ):
            session.receive(data)  # SOL and other payloads are not supported

    def _open_session(self, payload: bytes, address: tuple[str, int]) -> None:
        tag = payload[0]
        console_id = bytes(payload[4:8])
        suite = None
        status = RmcpStatus.ILLEGAL_PARAMETER
        if len(payload) >= 32:
            proposed = (payload[12] & 0x3F, payload[20] & 0x3F, payload[28] & 0x3F)
            suite = next(
                (
                    s
                    for s in CIPHER_SUITES.values()
                    if (s.authentication, s.integrity, s.confidentiality) == proposed
                ),
                None,
            )
            status = RmcpStatus.OK if suite else RmcpStatus.NO_CIPHER_SUITE_MATCH
        if status is RmcpStatus.OK and (
            self.faults.session_table_full or len(self.sessions) >= self.max_sessions
        ):
            status = RmcpStatus.INSUFFICIENT_RESOURCES
        managed_id = self._new_session_id()
        # A refused request still needs an endpoint to frame the answer.
        session = RmcpPlusSession(
            self,
            self.transmitter,
            address,
            suite=suite or CIPHER_SUITES[3],
            managed_id=managed_id,
            console_id=console_id,
        )
        if status is RmcpStatus.OK:
            self.sessions[managed_id] = session
        else:
            self.sessions_refused += 1
        session.send_open_session_response(tag, status)

    def _new_session_id(self) -> int:
        while True:
            candidate = int.from_bytes(os.urandom(4), "little")
            if candidate and candidate not in self.sessions:
                return candidate

    # ---- session table (SessionHost) -------------------------------------
    def session_established(self, session: RmcpPlusSession) -> None:
        """Count a session that completed RAKP."""
        self.sessions_total += 1

    def forget_session(self, managed_id: int) -> None:
        """Remove a session; later packets for it are dropped like on an iDRAC."""
        self.sessions.pop(managed_id, None)

    def close_session_by_id(self, managed_id: int) -> bool:
        """Close another session by id (an admin may do that)."""
        return self.sessions.pop(managed_id, None) is not None

    def expire_idle_sessions(self) -> None:
        """Drop sessions idle for longer than the session timeout."""
        deadline = time.monotonic() - self.session_timeout
        for managed_id, session in list(self.sessions.items()):
            if session.last_activity < deadline:
                del self.sessions[managed_id]

    def session_table(self) -> list[SessionInfo]:
        """Describe the open and half-open sessions."""
        now = time.monotonic()
        return [
            SessionInfo(
                managed_id=s.localsid,
                username=s.username,
                cipher_suite=s.suite.id,
                privilege=int(s.privilege),
                state=s.state.value,
                address=s.sockaddr,
                idle_seconds=now - s.last_activity,
            )
            for s in self.sessions.values()
        ]

    def counters(self) -> Counters:
        """Return a snapshot of the counters."""
        return Counters(
            packets_in=self.packets_in,
            packets_out=self.transmitter.packets_out,
            packets_dropped=self.transmitter.packets_dropped,
            sessions_open=sum(
                s.state is SessionState.ACTIVE for s in self.sessions.values()
            ),
            sessions_total=self.sessions_total,
            sessions_refused=self.sessions_refused,
            commands=dict(self.commands),
        )

    def restart(self, downtime: float) -> None:
        """Reboot the iDRAC: sessions, reservations and manual fan mode are lost."""
        self.sessions.clear()
        self._reservation = 0
        self.machine.reset_controller()
        self.unresponsive_until = time.monotonic() + downtime

    # ---- IPMI request dispatch -------------------------------------------
    def handle_raw_request(self, request: dict[str, Any], session: Endpoint) -> None:
        """Answer one IPMI request (pyghmi's hook)."""
        netfn, command = request["netfn"], request["command"]
        key = (netfn, command)
        if isinstance(session, SessionlessExchange) and key not in SESSIONLESS_COMMANDS:
            return
        if isinstance(session, RmcpPlusSession):
            session.touch()
        self.commands[key] += 1
        data = bytes(request["data"])
        code = self.faults.completion_codes.get(key)
        required = (
            Privilege.ADMINISTRATOR
            if netfn == NETFN_DELL
            else REQUIRED_PRIVILEGE.get(key)
        )
        if code is None and required is not None and session.privilege < required:
            code = CC_INSUFFICIENT_PRIVILEGE
        if code is not None:
            self._log_oem(netfn, command, data, code)
            session.send_ipmi_response(code=code)
            return
        handler = self._handlers.get(key)
        if handler is None:
            # Get Device ID, chassis status/control: pyghmi's dispatch.
            super().handle_raw_request(request, session)
            return
        code, reply = handler(data)
        self._log_oem(netfn, command, data, code)
        session.send_ipmi_response(data=reply, code=code)

    def _log_oem(self, netfn: int, command: int, data: bytes, code: int) -> None:
        if netfn == NETFN_DELL:
            self.oem_log.append(
                OemLogEntry(self.machine.clock.now(), netfn, command, data, code)
            )

    # ---- pyghmi Bmc hooks ------------------------------------------------
    def send_device_id(self, session: Endpoint) -> None:
        """Answer Get Device ID with 3-byte manufacturer and 2-byte product ids."""
        firmware = self.model.firmware
        reply = bytes(
            [
                0x20,  # device id
                0x01,  # device revision; no device SDRs
                firmware.major & 0x7F,
                int(str(firmware.minor), 16),  # BCD
                0x02,  # IPMI 2.0
                0x83,  # chassis, SDR repository and sensor device
            ]
        )
        reply += DELL_MANUFACTURER_ID.to_bytes(3, "little")
        reply += firmware.product_id.to_bytes(2, "little")
        reply += bytes([0x00, firmware.build, 0x00, 0x00])  # auxiliary revision
        session.send_ipmi_response(data=reply)

    def get_power_state(self) -> str:
        """Return the host power state for Get Chassis Status."""
        return "on" if self.machine.powered else "off"

    def power_on(self) -> int:
        """Chassis control: power up."""
        self.machine.set_power(True)
        return CC_OK

    def power_off(self) -> int:
        """Chassis control: power down."""
        self.machine.set_power(False)
        return CC_OK

    def power_shutdown(self) -> int:
        """Chassis control: soft shutdown (instant here)."""
        return self.power_off()

    def cold_reset(self) -> int:
        """BMC Cold Reset: restart the iDRAC after this answer."""
        self.restart(downtime=0.0)
        return CC_OK

    # ---- command handlers: (completion code, data) -------------------------
    def _channel_auth_caps(self, data: bytes) -> Reply:
        return CC_OK, bytes([LAN_CHANNEL]) + AUTH_CAPABILITIES

    def _system_guid(self, data: bytes) -> Reply:
        return CC_OK, self.guid

    def _channel_cipher_suites(self, data: bytes) -> Reply:
        if len(data) != 3:
            return CC_LENGTH_INVALID, b""
        if data[2] & 0x80:
            records = b"".join(s.record for s in CIPHER_SUITES.values())
        else:
            records = b"".join(s.record[2:] for s in CIPHER_SUITES.values())
            records = bytes(dict.fromkeys(records))  # each algorithm once
        index = data[2] & 0x3F
        return CC_OK, bytes([LAN_CHANNEL]) + records[index * 16 : index * 16 + 16]

    def _system_info(self, data: bytes) -> Reply:
        if len(data) != 4:
            return CC_LENGTH_INVALID, b""
        revision_only, parameter, set_selector = data[0] & 0x80, data[1], data[2]
        if parameter != SYSTEM_NAME_PARAMETER:
            return CC_PARAMETER_NOT_SUPPORTED, b""
        if revision_only:
            return CC_OK, bytes([SYSTEM_INFO_REVISION])
        name = self.system_name.encode("utf-8")
        if set_selector == 0:
            block = bytes([0x00, len(name)]) + name[:14]  # ASCII/UTF-8, length
        else:
            start = 14 + 16 * (set_selector - 1)
            if start >= max(len(name), 1):
                return CC_OUT_OF_RANGE, b""
            block = name[start : start + 16]
        return CC_OK, bytes([SYSTEM_INFO_REVISION, set_selector]) + block.ljust(
            16, b"\0"
        )

    def _sensor(self, data: bytes) -> SensorSpec | Reply:
        if len(data) != 1:
            return CC_LENGTH_INVALID, b""
        sensor = self.sensors.get(data[0])
        return (CC_NOT_PRESENT, b"") if sensor is None else sensor

    def _sensor_reading(self, data: bytes) -> Reply:
        sensor = self._sensor(data)
        if isinstance(sensor, tuple):
            return sensor
        return CC_OK, sensor_reading_bytes(self.machine.reading(sensor))

    def _sensor_thresholds(self, data: bytes) -> Reply:
        sensor = self._sensor(data)
        if isinstance(sensor, tuple):
            return sensor
        return CC_OK, threshold_bytes(sensor)

    def _fru_inventory_area_info(self, data: bytes) -> Reply:
        if len(data) != 1:
            return CC_LENGTH_INVALID, b""
        if data[0] != 0:
            return CC_NOT_PRESENT, b""
        return CC_OK, struct.pack("<HB", len(self.fru_image), 0x00)  # accessed by bytes

    def _read_fru_data(self, data: bytes) -> Reply:
        if len(data) != 4:
            return CC_LENGTH_INVALID, b""
        fru_id, offset, count = struct.unpack("<BHB", data)
        if fru_id != 0:
            return CC_NOT_PRESENT, b""
        if offset >= len(self.fru_image):
            return CC_OUT_OF_RANGE, b""
        if count > FRU_READ_LIMIT:
            return CC_CANNOT_RETURN_BYTES, b""
        chunk = self.fru_image[offset : offset + count]
        return CC_OK, bytes([len(chunk)]) + chunk

    def _sdr_repository_info(self, data: bytes) -> Reply:
        count = len(self.sdr.records)
        # version, count, free space, two timestamps, "non-modal, reserve supported"
        return CC_OK, struct.pack("<BHHIIB", SDR_VERSION, count, 0, 0, 0, 0x22)

    def _reserve_sdr_repository(self, data: bytes) -> Reply:
        self._reservation = self._reservation % 0xFFFF + 1
        return CC_OK, struct.pack("<H", self._reservation)

    def _get_sdr(self, data: bytes) -> Reply:
        if len(data) != 6:
            return CC_LENGTH_INVALID, b""
        reservation, record_id, offset, count = struct.unpack("<HHBB", data)
        limit = self.faults.sdr_read_limit
        if limit is not None and count > limit:
            return CC_CANNOT_RETURN_BYTES, b""
        if (reservation or offset) and reservation != self._reservation:
            return CC_RESERVATION_INVALID, b""
        resolved = self.sdr.resolve(record_id)
        if resolved is None:
            return CC_NOT_PRESENT, b""
        record = self.sdr.records[resolved]
        if offset > len(record):
            return CC_OUT_OF_RANGE, b""
        chunk = record[offset:] if count == 0xFF else record[offset : offset + count]
        return CC_OK, struct.pack("<H", self.sdr.next_id(resolved)) + chunk

    def _dell_fan(self, data: bytes) -> Reply:
        """`30 30 01 00|01` manual/automatic, `30 30 02 <id|ff> <percent>`."""
        if self.model.firmware.fan_commands_code:
            return self.model.firmware.fan_commands_code, b""
        if not data:
            return CC_LENGTH_INVALID, b""
        if data[0] == 0x01:
            return self._dell_fan_mode(data)
        if data[0] == 0x02:
            return self._dell_fan_speed(data)
        return CC_INVALID_DATA, b""

    def _dell_fan_mode(self, data: bytes) -> Reply:
        if len(data) != 2:
            return CC_LENGTH_INVALID, b""
        if data[1] not in (0x00, 0x01):
            return CC_INVALID_DATA, b""
        self.machine.set_mode(FanMode.MANUAL if data[1] == 0x00 else FanMode.AUTOMATIC)
        return CC_OK, b""

    def _dell_fan_speed(self, data: bytes) -> Reply:
        if len(data) != 3:
            return CC_LENGTH_INVALID, b""
        fan_id, duty = data[1], data[2]
        fans = self.model.fans
        if fan_id == 0xFF and fans.accepts_all:
            rotors = tuple(range(self.model.fan_count))
        elif fan_id in fans.ids:
            rotors = fans.ids[fan_id]
        else:
            return CC_INVALID_DATA, b""
        if duty > 100:
            return CC_OUT_OF_RANGE, b""
        self.machine.set_duty(rotors, float(duty), all_fans=fan_id == 0xFF)
        return CC_OK, b""

    def _dell_pcie_cooling(self, data: bytes) -> Reply:
        """Third-party PCIe card cooling response: `ce 00 …` set, `ce 01 …` get."""
        if not self.model.firmware.pcie_cooling_commands:
            return CC_INVALID_COMMAND, b""
        if data[:1] == b"\x00":
            if len(data) != 11:
                return CC_LENGTH_INVALID, b""
            if (
                data[1:6] != PCIE_COOLING_KEY
                or data[6:8] != PCIE_COOLING_VALUE_PREFIX
                or data[8] not in (0, 1)
                or data[9:] != b"\0\0"
            ):
                return CC_INVALID_DATA, b""
            self.machine.pcie_cooling_response = data[8] == 0
            return CC_OK, b""
        if data[:1] == b"\x01":
            if len(data) != 6:
                return CC_LENGTH_INVALID, b""
            if data[1:6] != PCIE_COOLING_KEY:
                return CC_INVALID_DATA, b""
            disabled = 0 if self.machine.pcie_cooling_response else 1
            return CC_OK, PCIE_COOLING_KEY + PCIE_COOLING_VALUE_PREFIX + bytes(
                [disabled, 0, 0]
            )
        return CC_LENGTH_INVALID if not data else CC_INVALID_DATA, b""
