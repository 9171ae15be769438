"""RMCP+ session setup details: presence ping, suites, RAKP status codes, the table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
import hashlib
import hmac
import os
import struct
import time

from pyipmi.errors import MessageStatusCodeError, RetryError
from pyipmi.interfaces.rmcp import RMCP_CLASS_ASF, AsfPing, AsfPong, RmcpMsg
import pytest

from poweredge_sim import SimulatedIdrac

from .clients import RawConsole, ipmitool, open_pyipmi, pyipmi_session, send_raw

SHA256 = hashlib.sha256


@pytest.fixture
def console(poweredge_sim: SimulatedIdrac) -> Iterator[RawConsole]:
    raw = RawConsole(poweredge_sim)
    yield raw
    raw.close()


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, SHA256).digest()


def test_presence_ping_gets_a_pong_saying_ipmi(console: RawConsole) -> None:
    ping = AsfPing()
    ping.tag = 7
    reply = console.send(RmcpMsg(RMCP_CLASS_ASF).pack(ping.pack(), 0xFF))

    rmcp = RmcpMsg()
    pong = AsfPong()
    pong.unpack(rmcp.unpack(reply))
    assert rmcp.class_of_msg == RMCP_CLASS_ASF
    assert pong.tag == 7
    assert pong.supported_entities == 0x81  # IPMI supported, ASF 1.0


def test_cipher_suite_list_offers_3_and_17(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        reply = send_raw(ipmi, 0x06, b"\x54\x0e\x00\x80")

    assert reply == bytes.fromhex("00 01 c0 03 01 41 81 c0 11 03 44 81")


@pytest.mark.parametrize("algorithms", [(1, 1, 0), (3, 4, 0), (2, 2, 1), (0, 0, 0)])
def test_unsupported_cipher_suites_are_refused(
    console: RawConsole, algorithms: tuple[int, int, int]
) -> None:
    response = console.open_session(algorithms)

    assert response[1] == 0x11  # no cipher suite match


def test_full_suite_17_handshake_uses_sha256_auth_codes(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    opened = console.open_session()
    assert opened[1] == 0x00
    assert opened[16::8] == bytes([3, 4, 1])  # the algorithms we asked for
    managed_id = struct.unpack("<I", opened[8:12])[0]
    sid_m, sid_c = struct.pack("<I", RawConsole.CONSOLE_ID), opened[8:12]
    rm = os.urandom(16)
    role = bytes([0x14, 4]) + b"root"

    rakp2 = console.rakp1(managed_id, rm, b"root")
    rc, guid = rakp2[8:24], rakp2[24:40]
    assert rakp2[1] == 0x00
    assert guid == poweredge_sim.guid
    assert rakp2[40:] == _mac(b"calvin", sid_m + sid_c + rm + rc + guid + role)

    rakp4 = console.rakp3(managed_id, _mac(b"calvin", rc + sid_m + role))
    sik = _mac(b"calvin", rm + rc + role)
    assert rakp4[1] == 0x00
    assert rakp4[8:] == _mac(sik, rm + sid_c + guid)[:16]
    assert poweredge_sim.counters.sessions_total == 1


def test_unknown_user_gets_rakp2_unauthorized_name(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    managed_id = struct.unpack("<I", console.open_session()[8:12])[0]

    rakp2 = console.rakp1(managed_id, os.urandom(16), b"nobody")

    assert rakp2[1] == 0x0D
    assert poweredge_sim.open_sessions == []


def test_bad_rakp3_gets_rakp4_invalid_integrity_check_value(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    managed_id = struct.unpack("<I", console.open_session()[8:12])[0]
    rc = console.rakp1(managed_id, os.urandom(16), b"root")[8:24]
    # What a console that typed the wrong password would send.
    wrong = _mac(
        b"wrong", rc + struct.pack("<I", RawConsole.CONSOLE_ID) + b"\x14\x04root"
    )

    rakp4 = console.rakp3(managed_id, wrong)

    assert rakp4[1] == 0x0F
    assert poweredge_sim.open_sessions == []
    assert poweredge_sim.counters.sessions_total == 0


def test_session_table_limit_refuses_with_insufficient_resources(
    poweredge_sim_factory,
) -> None:
    sim = poweredge_sim_factory("r730", max_sessions=3)
    with ExitStack() as sessions:
        for _ in range(3):
            sessions.enter_context(pyipmi_session(sim))
        assert sim.counters.sessions_open == 3

        with pytest.raises(MessageStatusCodeError) as refused, pyipmi_session(sim):
            pass
        assert refused.value.msc == 0x01
        result = ipmitool(sim, "mc", "info", verbose=True)
        assert result.returncode != 0
        assert "insufficient resources for session" in result.stderr.lower()

    with pyipmi_session(sim) as ipmi:  # closing freed the slots
        assert ipmi.get_device_id().manufacturer_id == 674
    assert sim.counters.sessions_refused == 2


def test_idle_sessions_expire(poweredge_sim_factory) -> None:
    sim = poweredge_sim_factory("r730", session_timeout=0.3)
    ipmi = open_pyipmi(sim)
    try:
        assert send_raw(ipmi, 0x06, b"\x01")[0] == 0x00
        assert len(sim.open_sessions) == 1
        deadline = time.monotonic() + 10
        while sim.open_sessions and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.open_sessions == []

        ipmi.interface.set_timeout(0.2)
        with pytest.raises(RetryError):
            send_raw(ipmi, 0x06, b"\x01")
    finally:
        ipmi.interface.close()


def test_operator_session_cannot_set_fans_or_become_administrator(
    poweredge_sim: SimulatedIdrac,
) -> None:
    with pyipmi_session(poweredge_sim, privilege="operator") as ipmi:
        (session,) = poweredge_sim.open_sessions
        fan = send_raw(ipmi, 0x30, b"\x30\x01\x00")
        to_admin = send_raw(ipmi, 0x06, b"\x3b\x04")
        power_off = send_raw(ipmi, 0x00, b"\x02\x00")  # operators may do this

    assert session.privilege == 3
    assert fan == b"\xd4"
    assert to_admin == b"\x81"
    assert power_off == b"\x00"
    assert poweredge_sim.mode == "automatic"
    assert {s.name: v for s, v in poweredge_sim.readings()}["Exhaust Temp"] is None


def test_sessions_start_at_user_privilege(poweredge_sim: SimulatedIdrac) -> None:
    """Until Set Session Privilege, a session may only do User things."""
    console = RawConsole(poweredge_sim)
    try:
        managed_id = struct.unpack("<I", console.open_session()[8:12])[0]
        rm = os.urandom(16)
        rc = console.rakp1(managed_id, rm, b"root")[8:24]
        sid_m = struct.pack("<I", RawConsole.CONSOLE_ID)
        assert (
            console.rakp3(managed_id, _mac(b"calvin", rc + sid_m + b"\x14\x04root"))[1]
            == 0
        )
    finally:
        console.close()

    (session,) = poweredge_sim.open_sessions
    assert (session.state, session.privilege, session.cipher_suite) == ("active", 2, 17)


@pytest.mark.parametrize(("role", "status"), [(0x15, 0x0A), (0x16, 0x09)])
def test_rakp1_roles_beyond_administrator_are_refused(
    poweredge_sim: SimulatedIdrac, console: RawConsole, role: int, status: int
) -> None:
    managed_id = struct.unpack("<I", console.open_session()[8:12])[0]

    rakp2 = console.rakp1(managed_id, os.urandom(16), b"root", role=role)

    assert rakp2[1] == status
    assert poweredge_sim.open_sessions == []


def test_non_ipmi_payloads_inside_a_session_are_ignored(
    poweredge_sim: SimulatedIdrac, console: RawConsole, caplog: pytest.LogCaptureFixture
) -> None:
    opened = console.open_session()
    managed_id = struct.unpack("<I", opened[8:12])[0]
    console.sock.settimeout(0.2)

    for payload_type in (0x01, 0x11, 0x13, 0x15):  # SOL, and replies only a BMC sends
        header = b"\x06\x00\xff\x07\x06" + bytes([payload_type])
        with pytest.raises(TimeoutError):
            console.send(header + struct.pack("<IIH", managed_id, 1, 36) + opened)

    assert [s.state for s in poweredge_sim.open_sessions] == ["opening"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
