"""RMCP+ endpoints built on pyghmi's `ServerSession`.

pyghmi does the framing: AES-CBC-128, HMAC integrity trailers, IPMI
message checksums and payload dispatch (`_handle_ipmi2_packet`). Its server
side, though, always answers cipher suite 3, silently drops unknown users
and bad RAKP3 messages, and registers every session in process-global
tables served by a daemon IO thread that can never be stopped. These
subclasses keep the framing and replace the rest: cipher suites 3 and 17
(K1/K2 from 20-byte constants, as ipmitool and real BMCs do), RAKP status
codes, privilege levels, and a session table owned by one simulator.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, IntEnum
import hashlib
import hmac
import os
import struct
import time
from typing import TYPE_CHECKING, Any, Protocol, Self

from pyghmi.ipmi.private.serversession import ServerSession

if TYPE_CHECKING:
    from collections.abc import Buffer

BMC_ADDRESS = 0x20
MAX_USER_NAME_LENGTH = 16


class PayloadType(IntEnum):
    """RMCP+ payload types (IPMI 2.0 table 13-16)."""

    IPMI = 0x00
    OPEN_SESSION_REQUEST = 0x10
    OPEN_SESSION_RESPONSE = 0x11
    RAKP1 = 0x12
    RAKP2 = 0x13
    RAKP3 = 0x14
    RAKP4 = 0x15


class RmcpStatus(IntEnum):
    """RMCP+ and RAKP status codes (IPMI 2.0 table 13-15)."""

    OK = 0x00
    INSUFFICIENT_RESOURCES = 0x01
    INVALID_ROLE = 0x09
    UNAUTHORIZED_ROLE = 0x0A
    INVALID_NAME_LENGTH = 0x0C
    UNAUTHORIZED_NAME = 0x0D
    INVALID_INTEGRITY_CHECK_VALUE = 0x0F
    NO_CIPHER_SUITE_MATCH = 0x11
    ILLEGAL_PARAMETER = 0x12


class Privilege(IntEnum):
    """Session privilege levels (IPMI 2.0 table 6-1)."""

    CALLBACK = 1
    USER = 2
    OPERATOR = 3
    ADMINISTRATOR = 4
    OEM = 5


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """The algorithms of one cipher suite (IPMI 2.0 table 22-20)."""

    id: int
    authentication: int
    integrity: int
    confidentiality: int
    digest: Callable[..., Any]  # hashlib constructor for RAKP, K1/K2 and integrity
    auth_code_length: int  # integrity trailer length, also the RAKP4 ICV length

    @property
    def record(self) -> bytes:
        """Return the Get Channel Cipher Suites record of this suite."""
        return bytes(
            [
                0xC0,
                self.id,
                self.authentication,
                0x40 | self.integrity,
                0x80 | self.confidentiality,
            ]
        )


CIPHER_SUITES: dict[int, CipherSuite] = {
    3: CipherSuite(3, 0x01, 0x01, 0x01, hashlib.sha1, 12),
    17: CipherSuite(17, 0x03, 0x04, 0x01, hashlib.sha256, 16),
}


class SessionState(Enum):
    """Where an RMCP+ session is in its handshake."""

    OPENING = "opening"  # Open Session Response sent, waiting for RAKP1
    AUTHENTICATING = "authenticating"  # RAKP2 sent, waiting for RAKP3
    ACTIVE = "active"


class Transmitter(Protocol):
    """What pyghmi's `_io_sendto` needs from a socket."""

    def setblocking(self, flag: bool) -> None:
        """Accept pyghmi's call; the transmitter never blocks."""

    def sendto(self, packet: Buffer, address: tuple[str, int]) -> int:
        """Send (or queue, drop, damage) one datagram."""


class SessionHost(Protocol):
    """The simulator-side services a session calls back into."""

    users: Mapping[str, str]
    guid: bytes

    def handle_raw_request(self, request: dict[str, Any], session: Endpoint) -> None:
        """Answer one IPMI request inside a session."""

    def session_established(self, session: RmcpPlusSession) -> None:
        """Record a session that finished RAKP."""

    def forget_session(self, managed_id: int) -> None:
        """Drop a session from the table (closed, failed or expired)."""

    def close_session_by_id(self, managed_id: int) -> bool:
        """Close another session of this BMC; False if there is none."""


def _hmac(key: bytes, data: bytes, digest: Callable[..., Any]) -> bytes:
    return hmac.new(key, data, digest).digest()


class Endpoint(ServerSession):  # type: ignore[misc]  # pyghmi is untyped
    """pyghmi framing state for one peer, without pyghmi's global tables."""

    def __new__(cls, *_args: object, **_kwargs: object) -> Self:
        # ServerSession.__new__ insists on its own constructor signature.
        return object.__new__(cls)

    def __init__(
        self, host: SessionHost, transmitter: Transmitter, sockaddr: tuple[str, int]
    ) -> None:
        # Deliberately not calling ServerSession.__init__: it registers the
        # session in pyghmi's process-wide bmc_handlers and answers with a
        # hard-coded cipher suite 3 Open Session Response.
        self.bmc = host
        self.socket = transmitter
        self.sockaddr = sockaddr
        self.servermode = True
        self.ipmiversion = 2.0
        self.authtype = 6
        self.integrityalgo = 0
        self.confalgo = 0
        self.sequencenumber = 0
        self.sessionid = 0
        self.localsid = 0
        self.remseqnumber: int | None = None
        self.k1: bytes | None = None
        self.aeskey: bytes | None = None
        self.currhashlib: Callable[..., Any] = hashlib.sha1
        self.currhashlen = 12
        self.rqaddr = BMC_ADDRESS
        self.rqlun = 0
        self.lastpayload = None
        self.pendingpayloads: deque[Any] = deque()
        self.pktqueue: deque[Any] = deque()
        self.broken = False
        self._customkeepalives = None
        self.privilege = Privilege.USER


class SessionlessExchange(Endpoint):
    """Answers one request sent outside a session (auth caps, cipher suites).

    The reply uses the framing of the request: IPMI 1.5 with auth type
    none, or an unauthenticated RMCP+ payload.
    """

    def __init__(
        self,
        host: SessionHost,
        transmitter: Transmitter,
        sockaddr: tuple[str, int],
        *,
        rmcp_plus: bool,
    ) -> None:
        super().__init__(host, transmitter, sockaddr)
        if not rmcp_plus:
            self.ipmiversion = 1.5
            self.authtype = 0
        self.ipmicallback = self._dispatch

    def _dispatch(self, request: dict[str, Any]) -> None:
        self.bmc.handle_raw_request(request, self)

    def feed(self, message: bytes) -> None:
        """Parse one IPMI message and answer it through the host."""
        self._parse_ipmi_payload(bytearray(message))


class RmcpPlusSession(Endpoint):
    """One RMCP+ session: the RAKP handshake, then authenticated requests."""

    def __init__(
        self,
        host: SessionHost,
        transmitter: Transmitter,
        sockaddr: tuple[str, int],
        *,
        suite: CipherSuite,
        managed_id: int,
        console_id: bytes,
    ) -> None:
        super().__init__(host, transmitter, sockaddr)
        self.suite = suite
        self.localsid = managed_id
        self.managedsessionid = struct.pack("<I", managed_id)
        self.clientsessionid = console_id
        self.currhashlib = suite.digest
        self.currhashlen = suite.auth_code_length
        self.state = SessionState.OPENING
        self.username = ""
        self.max_privilege = Privilege.ADMINISTRATOR
        self.last_activity = time.monotonic()
        self.ipmicallback = self.handle_client_request
        self._role = b""
        self._rm = b""
        self._rc = b""
        self._kuid = b""
        self._rakp4_packet = b""

    def receive(self, datagram: bytes) -> None:
        """Verify, decrypt and dispatch one datagram of this session (pyghmi)."""
        self._handle_ipmi2_packet(bytearray(datagram))

    @property
    def console_id(self) -> int:
        """Return the remote console's session id (in our reply headers)."""
        return int(struct.unpack("<I", self.clientsessionid)[0])

    def touch(self) -> None:
        """Note activity, which keeps the session from expiring."""
        self.last_activity = time.monotonic()

    def send_open_session_response(self, tag: int, status: RmcpStatus) -> None:
        """Answer the Open Session Request that created this session."""
        if status is not RmcpStatus.OK:
            self._refuse(PayloadType.OPEN_SESSION_RESPONSE, tag, status)
            return
        response = (
            bytes([tag, status, Privilege.ADMINISTRATOR, 0]) + self.clientsessionid
        )
        response += self.managedsessionid
        algorithms = (
            self.suite.authentication,
            self.suite.integrity,
            self.suite.confidentiality,
        )
        for kind, algorithm in enumerate(algorithms):
            response += struct.pack("<BxxBBxxx", kind, 8, algorithm)
        self.send_payload(response, PayloadType.OPEN_SESSION_RESPONSE, retry=False)

    def _refuse(self, payload_type: PayloadType, tag: int, status: RmcpStatus) -> None:
        self.send_payload(
            bytes([tag, status, 0, 0]) + self.clientsessionid, payload_type, retry=False
        )
        self.bmc.forget_session(self.localsid)

    def _got_rakp1(self, data: bytearray) -> None:
        if self.state is SessionState.ACTIVE:
            return
        tag = data[0]
        role = data[24]
        name_length = data[27]
        name = bytes(data[28 : 28 + name_length])
        if name_length > MAX_USER_NAME_LENGTH or len(name) != name_length:
            self._refuse(PayloadType.RAKP2, tag, RmcpStatus.INVALID_NAME_LENGTH)
            return
        password = self.bmc.users.get(name.decode("latin-1"))
        if not name or password is None:
            self._refuse(PayloadType.RAKP2, tag, RmcpStatus.UNAUTHORIZED_NAME)
            return
        requested = role & 0x0F
        if requested > Privilege.OEM:
            self._refuse(PayloadType.RAKP2, tag, RmcpStatus.INVALID_ROLE)
            return
        if requested > Privilege.ADMINISTRATOR:  # our users are administrators
            self._refuse(PayloadType.RAKP2, tag, RmcpStatus.UNAUTHORIZED_ROLE)
            return
        self.username = name.decode("latin-1")
        self.max_privilege = Privilege(max(requested, Privilege.USER))
        self._role = bytes([role, name_length]) + name
        self._rm = bytes(data[8:24])
        self._rc = os.urandom(16)
        self._kuid = password.encode("utf-8")
        auth_code = _hmac(
            self._kuid,
            self.clientsessionid
            + self.managedsessionid
            + self._rm
            + self._rc
            + self.bmc.guid
            + self._role,
            self.suite.digest,
        )
        rakp2 = bytes([tag, 0, 0, 0]) + self.clientsessionid + self._rc + self.bmc.guid
        self.send_payload(rakp2 + auth_code, PayloadType.RAKP2, retry=False)
        self.state = SessionState.AUTHENTICATING

    def _got_rakp3(self, data: bytearray) -> None:
        if self.state is SessionState.ACTIVE:
            # Our RAKP4 was lost; the keys are set, so resend the saved bytes.
            self.socket.sendto(self._rakp4_packet, self.sockaddr)
            return
        if self.state is not SessionState.AUTHENTICATING:
            return
        tag, status = data[0], data[1]
        if status != RmcpStatus.OK:
            # The console rejected our RAKP2 (e.g. wrong password): give up.
            self.bmc.forget_session(self.localsid)
            return
        expected = _hmac(
            self._kuid, self._rc + self.clientsessionid + self._role, self.suite.digest
        )
        if not hmac.compare_digest(expected, bytes(data[8:])):
            self._refuse(
                PayloadType.RAKP4, tag, RmcpStatus.INVALID_INTEGRITY_CHECK_VALUE
            )
            return
        digest = self.suite.digest
        sik = _hmac(self._kuid, self._rm + self._rc + self._role, digest)
        icv = _hmac(sik, self._rm + self.managedsessionid + self.bmc.guid, digest)
        rakp4 = (
            bytes([tag, 0, 0, 0])
            + self.clientsessionid
            + icv[: self.suite.auth_code_length]
        )
        self.send_payload(rakp4, PayloadType.RAKP4, retry=False)
        self._rakp4_packet = bytes(self.netpacket)
        # 20-byte constants whatever the hash: what ipmitool and BMCs do.
        self.k1 = _hmac(sik, b"\x01" * 20, digest)
        self.aeskey = _hmac(sik, b"\x02" * 20, digest)[:16]
        self.integrityalgo = self.suite.integrity
        self.confalgo = self.suite.confidentiality
        self.sessionid = self.console_id
        self.sequencenumber = 1
        self.state = SessionState.ACTIVE
        self.touch()
        self.bmc.session_established(self)

    def handle_client_request(self, request: dict[str, Any]) -> None:
        """Answer session management here, everything else in the host."""
        netfn, command, data = request["netfn"], request["command"], request["data"]
        if netfn == 0x06 and command == 0x3B:
            self._set_privilege(data)
        elif netfn == 0x06 and command == 0x3C:
            self._close(data)
        else:
            self.bmc.handle_raw_request(request, self)

    def _set_privilege(self, data: bytearray) -> None:
        if len(data) != 1:
            self.send_ipmi_response(code=0xC7)
            return
        requested = data[0] & 0x0F
        if requested == 0:
            self.send_ipmi_response(data=[self.privilege])
        elif requested < Privilege.USER or requested > Privilege.OEM:
            self.send_ipmi_response(code=0xCC)
        elif requested > self.max_privilege:
            self.send_ipmi_response(code=0x81)
        else:
            self.privilege = Privilege(requested)
            self.send_ipmi_response(data=[self.privilege])

    def _close(self, data: bytearray) -> None:
        if len(data) < 4:
            self.send_ipmi_response(code=0xC7)
            return
        target = int(struct.unpack("<I", bytes(data[:4]))[0])
        if target in (0, self.localsid):
            self.send_ipmi_response()
            self.bmc.forget_session(self.localsid)
        elif self.bmc.close_session_by_id(target):
            self.send_ipmi_response()
        else:
            self.send_ipmi_response(code=0x87)
