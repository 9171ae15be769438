"""The python-ipmi 0.6.1 work-arounds, and pins that fail when upstream changes.

A failing "upstream_" test means python-ipmi changed the behaviour we work around:
check docs/python-ipmi-upstream.md and drop the matching part of compat.py.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from types import SimpleNamespace

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
import pyipmi
from pyipmi.errors import (
    DecodingError,
    IpmiConnectionError,
    MessageStatusCodeError,
    NotSupportedError,
    RetryError,
)
from pyipmi.interfaces.base import Interface
from pyipmi.interfaces.mock import Mock
from pyipmi.interfaces.rmcpplus import (
    CIPHER_SUITES,
    PAYLOAD_TYPE_IPMI,
    RmcpPlus,
    SessionKeys,
    pack_rmcpplus,
    unpack_rmcpplus,
)
from pyipmi.msgs import constants
from pyipmi.session import Session
import pytest

from custom_components.dell_fan_control.idrac.compat import (
    OTHER_ALGORITHMS_MESSAGE,
    DellRmcpPlus,
    IpmitoolSessionKeys,
    decode_sensor_reading,
)

SIK = bytes(range(32))
# HMAC-SHA256(SIK, 20 x 0x01 / 0x02), computed once with hmac, as ipmitool derives them.
K1_SUITE_17 = bytes.fromhex(
    "8f34f198a044babe550f6217f57fc801e20bee40dd16b9712797aaf5bac3106b"
)
K2_SUITE_17 = bytes.fromhex(
    "4711da70e361cc4884e705f63bb297e3ba8e1c56e5de896cc0282feba64592f0"
)
# What python-ipmi 0.6.1 derives: HMAC-SHA256(SIK, 32 x 0x01).
K1_UPSTREAM_SUITE_17 = bytes.fromhex(
    "adfcafc560845b34a66a0ae033ad1fc7b43663548856e4be3cc9e01c1e6e1000"
)


def test_vectors_are_hmac_sha256_over_20_byte_constants() -> None:
    assert hmac.new(SIK, b"\x01" * 20, hashlib.sha256).digest() == K1_SUITE_17
    assert hmac.new(SIK, b"\x02" * 20, hashlib.sha256).digest() == K2_SUITE_17


def test_suite_17_keys_are_derived_like_ipmitool() -> None:
    keys = IpmitoolSessionKeys(CIPHER_SUITES[17], SIK)
    assert (keys.k1, keys.k2) == (K1_SUITE_17, K2_SUITE_17)


def test_upstream_still_derives_suite_17_keys_from_32_byte_constants() -> None:
    assert SessionKeys(CIPHER_SUITES[17], SIK).k1 == K1_UPSTREAM_SUITE_17 != K1_SUITE_17


def test_sha1_suite_keys_are_unchanged() -> None:
    ours = IpmitoolSessionKeys(CIPHER_SUITES[3], SIK[:20])
    upstream = SessionKeys(CIPHER_SUITES[3], SIK[:20])
    assert (ours.k1, ours.k2) == (upstream.k1, upstream.k2)


def test_packets_are_signed_with_k1_and_encrypted_with_k2() -> None:
    keys = IpmitoolSessionKeys(CIPHER_SUITES[17], SIK)

    pdu = pack_rmcpplus(PAYLOAD_TYPE_IPMI, b"get device id", 0x11223344, 7, keys)

    expected_code = hmac.new(K1_SUITE_17, pdu[:-16], hashlib.sha256).digest()[:16]
    assert pdu[-16:] == expected_code
    (length,) = struct.unpack_from("<H", pdu, 10)
    payload = pdu[12 : 12 + length]
    decryptor = Cipher(
        algorithms.AES(K2_SUITE_17[:16]), modes.CBC(payload[:16])
    ).decryptor()
    assert (decryptor.update(payload[16:]) + decryptor.finalize()).startswith(
        b"get device id"
    )


class FakeSocket:
    """Records what is sent; receiving is a test failure (nothing may wait for answers)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def connect(self, address: tuple[str, int]) -> None:
        assert address == ("127.0.0.1", 623)

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def recv(self, size: int) -> bytes:
        raise AssertionError("must not wait for an answer")


def _session() -> Session:
    session = Session()
    session.set_session_type_rmcp("127.0.0.1", 623)
    session.set_auth_type_user("root", "calvin")
    return session


def _scripted(interface: RmcpPlus, open_session, calls: list[str]) -> RmcpPlus:
    """Replace the network steps of establish_session with scripted ones."""
    interface._sock = FakeSocket()
    interface.ping = lambda: calls.append("ping")
    interface._get_channel_auth_cap = lambda session: SimpleNamespace(ipmi_2_0=True)
    interface._open_session = open_session
    interface._rakp = lambda session, suite, managed_session_id: SIK
    interface._set_session_privilege_level = lambda level: calls.append("privilege")
    return interface


def _other_algorithms_for_17(session: Session, suite) -> int:
    if suite.id == 17:
        raise DecodingError(
            f"Open Session Response: {OTHER_ALGORITHMS_MESSAGE} (1, 1, 1)"
        )
    return 0x0200


def _no_cipher_suite_match_for_17(session: Session, suite) -> int:
    if suite.id == 17:
        raise MessageStatusCodeError(constants.MSC_NO_CIPHER_SUITE_MATCH)
    return 0x0200


def test_upstream_does_not_fall_back_when_the_bmc_picks_other_algorithms() -> None:
    interface = _scripted(RmcpPlus(keep_alive_interval=0), _other_algorithms_for_17, [])
    with pytest.raises(DecodingError, match=OTHER_ALGORITHMS_MESSAGE):
        interface.establish_session(_session())


def test_upstream_open_session_reports_other_algorithms_with_this_message() -> None:
    interface = RmcpPlus(keep_alive_interval=0)

    def answer_with_suite_1(
        request_type: int, request: bytes, response_type: int
    ) -> bytes:
        console_id = request[4:8]
        algorithm = [bytes((kind, 0, 0, 8, 1, 0, 0, 0)) for kind in (0, 1, 2)]
        return (
            bytes((request[0], 0, 4, 0))
            + console_id
            + b"\x00\x02\x00\x00"
            + b"".join(algorithm)
        )

    interface._handshake = answer_with_suite_1
    with pytest.raises(DecodingError, match=OTHER_ALGORITHMS_MESSAGE):
        interface._open_session(_session(), CIPHER_SUITES[17])


@pytest.mark.parametrize(
    "open_session", [_other_algorithms_for_17, _no_cipher_suite_match_for_17]
)
def test_auto_falls_back_to_suite_3(open_session) -> None:
    calls: list[str] = []
    interface = _scripted(
        DellRmcpPlus(cipher_suite=None, max_retries=0), open_session, calls
    )

    interface.establish_session(_session())

    assert interface.negotiated_cipher_suite == 3
    assert isinstance(interface._keys, IpmitoolSessionKeys)
    assert calls == ["privilege"]


def test_explicit_suite_17_does_not_fall_back() -> None:
    interface = _scripted(
        DellRmcpPlus(cipher_suite=17, max_retries=0), _no_cipher_suite_match_for_17, []
    )
    with pytest.raises(MessageStatusCodeError):
        interface.establish_session(_session())


def test_upstream_still_requires_the_presence_ping() -> None:
    interface = _scripted(RmcpPlus(keep_alive_interval=0), _other_algorithms_for_17, [])

    def ignored_ping() -> None:
        raise IpmiConnectionError("no response to RMCP ping")

    interface.ping = ignored_ping
    with pytest.raises(IpmiConnectionError):
        interface.establish_session(_session())


def test_session_is_established_without_the_presence_ping() -> None:
    calls: list[str] = []
    interface = _scripted(
        DellRmcpPlus(cipher_suite=17, max_retries=0),
        lambda session, suite: 0x0200,
        calls,
    )

    interface.establish_session(_session())

    assert "ping" not in calls
    assert interface.negotiated_cipher_suite == 17
    assert interface.keep_alive_interval == 0


def _close_session_request(packet: bytes, keys: SessionKeys) -> bytes:
    payload_type, _, _, message = unpack_rmcpplus(packet[4:], keys)
    assert payload_type == PAYLOAD_TYPE_IPMI
    assert (message[1] >> 2, message[5]) == (
        constants.NETFN_APP,
        constants.CMDID_CLOSE_SESSION,
    )
    return message[6:10]


def test_failed_session_setup_after_rakp_closes_the_session_without_waiting() -> None:
    interface = _scripted(
        DellRmcpPlus(cipher_suite=17, max_retries=0), lambda session, suite: 0x0200, []
    )

    def privilege_lost(level: int) -> None:
        raise RetryError("no answer")

    interface._set_session_privilege_level = privilege_lost
    keys = IpmitoolSessionKeys(CIPHER_SUITES[17], SIK)

    with pytest.raises(RetryError):
        interface.establish_session(_session())

    (packet,) = interface._sock.sent
    assert _close_session_request(packet, keys) == struct.pack("<I", 0x0200)
    assert interface._keys is None
    assert interface.negotiated_cipher_suite is None


def test_abandon_without_session_sends_nothing() -> None:
    interface = DellRmcpPlus(cipher_suite=None, max_retries=0)
    interface._sock = FakeSocket()
    interface.abandon_session()
    assert interface._sock.sent == []


class CannedInterface(Mock):
    """Answers every request with the same raw response."""

    def __init__(self, response: bytes) -> None:
        self.response = response

    def send_and_receive_raw(self, target, lun, netfn, raw_bytes) -> bytes:
        return self.response

    send_and_receive = Interface.send_and_receive


def test_upstream_sensor_reading_keeps_reserved_bits_and_ignores_scanning_disabled() -> (
    None
):
    ipmi = pyipmi.create_connection(CannedInterface(bytes.fromhex("00 28 00 c0")))
    ipmi.target = pyipmi.Target(ipmb_address=0x20)

    reading, states = ipmi.get_sensor_reading(0x0E)

    assert reading == 0x28  # although bit 6 says "scanning disabled"
    assert states == 0xC0


@pytest.mark.parametrize(
    ("response", "raw", "states"),
    [
        ("00 28 c0 c0", 0x28, 0x00),  # reserved bits 7:6 masked
        ("00 28 40 d0", 0x28, 0x10),  # upper critical, events disabled
        ("00 28 00 c0", None, 0x00),  # scanning disabled (the R710's CPU "Temp")
        ("00 28 60 c0", None, 0x00),  # reading unavailable
        ("00 28 c0", 0x28, 0x00),  # discrete sensors may omit the states
        ("cb", None, 0x00),  # sensor not present
        ("00 28", None, 0x00),  # truncated
    ],
)
def test_decode_sensor_reading(response: str, raw: int | None, states: int) -> None:
    reading = decode_sensor_reading(bytes.fromhex(response))
    assert (reading.raw, reading.threshold_states) == (raw, states)


def test_ipmi_15_only_bmc_is_not_supported() -> None:
    interface = _scripted(
        DellRmcpPlus(cipher_suite=None, max_retries=0),
        lambda session, suite: 0x0200,
        [],
    )
    interface._get_channel_auth_cap = lambda session: SimpleNamespace(ipmi_2_0=False)
    with pytest.raises(NotSupportedError, match=r"IPMI v2\.0"):
        interface.establish_session(_session())


def test_abandon_survives_a_dead_socket() -> None:
    interface = DellRmcpPlus(cipher_suite=17, max_retries=0)
    interface._sock = FakeSocket()
    interface._session = _session()
    interface._keys = IpmitoolSessionKeys(CIPHER_SUITES[17], SIK)

    def unreachable(data: bytes) -> None:
        raise OSError("network is unreachable")

    interface._sock.send = unreachable
    interface.abandon_session()
    assert (interface._session, interface._keys) == (None, None)
