"""Work-arounds for python-ipmi 0.6.1, kept in one place so they can be dropped one by one.

Each defect has a test in tests/idrac/test_compat.py that fails when upstream changes
the behaviour, so we notice when a fix lands (see docs/python-ipmi-upstream.md):

1. K1/K2 for the RAKP-HMAC-SHA256 suites (15, 16, 17) are derived from 32-byte
   constants; ipmitool, pyghmi and real BMCs use 20 bytes (IPMI v2.0 §13.32).
   The handshake succeeds, then the BMC drops every packet: iDRAC9 accepts 17,
   so python-ipmi's default fails there. `IpmitoolSessionKeys` derives them right.
2. With cipher suite "auto" (17, then 3) python-ipmi only falls back on an RMCP+
   status code, not when the BMC answers the Open Session Request with other
   algorithms than proposed. `DellRmcpPlus` falls back in both cases.
3. `establish_session` requires an answer to the ASF presence ping; some BMCs ignore
   it and ipmitool never sends one. `DellRmcpPlus` skips the ping.
4. `Ipmi.get_sensor_reading` keeps the reserved state bits 7:6 (returned as 1s by
   most BMCs) and ignores "scanning disabled". `decode_sensor_reading` does both.

Everything is done in a subclass used only by our sessions: nothing in python-ipmi
is patched, so other integrations using the library are not affected.
"""

from __future__ import annotations

from dataclasses import dataclass
import hmac
import struct
from typing import TYPE_CHECKING

from pyipmi.errors import DecodingError, MessageStatusCodeError, NotSupportedError
from pyipmi.interfaces.ipmb import IpmbHeaderReq, encode_ipmb_msg
from pyipmi.interfaces.rmcpplus import (
    AUTH_ALGORITHMS,
    CIPHER_SUITES,
    RmcpPlus,
    SessionKeys,
)
from pyipmi.msgs import constants

if TYPE_CHECKING:
    from pyipmi.interfaces.rmcpplus import CipherSuite
    from pyipmi.session import Session

# IPMI v2.0 §13.32 and ipmitool's lanplus_generate_k1/k2: 20 bytes whatever the hash.
K1_CONSTANT = b"\x01" * 20
K2_CONSTANT = b"\x02" * 20

# RMCP+ status codes meaning "not these algorithms": try the next suite.
_ALGORITHMS_REJECTED = frozenset(
    {
        constants.MSC_INVALID_AUTHENTICATION_ALGORITHM,
        constants.MSC_INVALID_INTEGRITY_ALGORITHM,
        constants.MSC_NO_MATCHING_AUTHENTICATION_PAYLOAD,
        constants.MSC_NO_MATCHING_INTEGRITY_PAYLOAD,
        constants.MSC_INVALID_CONFIDENTIALITY_ALGORITHM,
        constants.MSC_NO_CIPHER_SUITE_MATCH,
    }
)
# How RmcpPlus._open_session reports an answer with algorithms we did not propose.
OTHER_ALGORITHMS_MESSAGE = "BMC selected other algorithms"

# Get Sensor Reading response, byte 2 (IPMI v2.0 §35.14).
_SCANNING_ENABLED = 0x40
_READING_UNAVAILABLE = 0x20
# Byte 3 of a threshold sensor: bits 7:6 are reserved ("returned as 1b").
THRESHOLD_STATES_MASK = 0x3F


class IpmitoolSessionKeys(SessionKeys):  # type: ignore[misc]
    """Session keys with K1/K2 derived like ipmitool and the BMCs (defect 1)."""

    def __init__(self, suite: CipherSuite, sik: bytes) -> None:
        super().__init__(suite, sik)
        digest = AUTH_ALGORITHMS[suite.authentication][0]
        self.k1 = hmac.new(sik, K1_CONSTANT, digest).digest()
        self.k2 = hmac.new(sik, K2_CONSTANT, digest).digest()


def _algorithms_refused(err: Exception) -> bool:
    """Whether an Open Session failure means "try the next cipher suite" (defect 2)."""
    if isinstance(err, MessageStatusCodeError):
        return err.msc in _ALGORITHMS_REJECTED
    return isinstance(err, DecodingError) and OTHER_ALGORITHMS_MESSAGE in str(err)


class DellRmcpPlus(RmcpPlus):  # type: ignore[misc]
    """python-ipmi's RMCP+ interface with our session establishment.

    Never starts python-ipmi's keep-alive thread: the integration polls anyway, and a
    thread left running would outlive the config entry.
    """

    def __init__(self, *, cipher_suite: int | None, max_retries: int) -> None:
        super().__init__(
            keep_alive_interval=0, max_retries=max_retries, cipher_suite=cipher_suite
        )
        self.negotiated_cipher_suite: int | None = None

    def establish_session(self, session: Session) -> None:
        """Open an RMCP+ session like RmcpPlus.establish_session, with defects 1-3 fixed.

        If the BMC accepted the RAKP handshake but the session cannot be used, the
        session is closed before the error propagates, so it does not hold a slot of
        the BMC's small session table.
        """
        self._session = None
        self._keys = None
        self.negotiated_cipher_suite = None
        self.host = session.rmcp_host
        self.port = session.rmcp_port
        self._sock.connect((self.host, self.port))

        if not self._get_channel_auth_cap(session).ipmi_2_0:
            raise NotSupportedError("BMC does not support IPMI v2.0 (RMCP+)")

        suite, managed_session_id = self._open_first_accepted_suite(session)
        sik = self._rakp(session, suite, managed_session_id)

        session.sid = managed_session_id
        session.sequence_number = 0
        session.activated = True
        self._session = session
        self._keys = IpmitoolSessionKeys(suite, sik)
        try:
            self._set_session_privilege_level(session.priv_level)
        except BaseException:
            self.abandon_session()
            raise
        self.negotiated_cipher_suite = suite.id

    def _open_first_accepted_suite(self, session: Session) -> tuple[CipherSuite, int]:
        # Suites 3 and 17 encrypt: cryptography is a Home Assistant core dependency.
        suites = [CIPHER_SUITES[suite_id] for suite_id in self.cipher_suites]
        for suite in suites[:-1]:
            try:
                return suite, self._open_session(session, suite)
            except (MessageStatusCodeError, DecodingError) as err:
                if not _algorithms_refused(err):
                    raise
        return suites[-1], self._open_session(session, suites[-1])

    def abandon_session(self) -> None:
        """Send Close Session without waiting for the answer, then forget the session.

        Used when the session already failed: waiting for a BMC that stopped
        answering would double the time to report the failure, while a BMC that
        still listens frees the slot right away.
        """
        session = self._session
        if session is None or self._keys is None:
            return
        header = IpmbHeaderReq()
        header.netfn = constants.NETFN_APP
        header.rs_lun = 0
        header.rs_sa = self.host_target.ipmb_address
        self._inc_sequence_number()
        header.rq_seq = self.next_sequence_number
        header.rq_lun = 0
        header.rq_sa = self.slave_address
        header.cmdid = constants.CMDID_CLOSE_SESSION
        try:
            self._send_ipmi_msg(encode_ipmb_msg(header, struct.pack("<I", session.sid)))
        except OSError:
            pass
        finally:
            session.activated = False
            self._session = None
            self._keys = None


@dataclass(frozen=True, slots=True)
class SensorReading:
    """A decoded Get Sensor Reading answer; raw is None when there is no reading."""

    raw: int | None
    threshold_states: int


def decode_sensor_reading(response: bytes) -> SensorReading:
    """Decode a Get Sensor Reading response (completion code first) (defect 4).

    Args:
        response: The answer of send_raw, starting with the completion code.

    Returns:
        The raw reading, None when the sensor is disabled, not scanned, still
        initialising or answered with an error; and the threshold states without
        the reserved bits.
    """
    if len(response) < 3 or response[0] != 0:
        return SensorReading(raw=None, threshold_states=0)
    flags = response[2]
    states = response[3] & THRESHOLD_STATES_MASK if len(response) > 3 else 0
    if not flags & _SCANNING_ENABLED or flags & _READING_UNAVAILABLE:
        return SensorReading(raw=None, threshold_states=states)
    return SensorReading(raw=response[1], threshold_states=states)
