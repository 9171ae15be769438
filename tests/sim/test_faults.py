"""Fault injection, observed from real clients over UDP."""

from __future__ import annotations

import time

from pyipmi.errors import CompletionCodeError, MessageStatusCodeError, RetryError
from pyipmi.interfaces.rmcp import RMCP_CLASS_ASF, AsfPing, RmcpMsg
import pytest

from poweredge_sim import SimulatedIdrac

from .clients import (
    RawConsole,
    ipmitool,
    open_pyipmi,
    pyipmi_session,
    sdr_list,
    send_raw,
)

PING = RmcpMsg(RMCP_CLASS_ASF).pack(AsfPing().pack(), 0xFF)
PONG_LENGTH = 28


@pytest.fixture
def console(poweredge_sim: SimulatedIdrac):
    raw = RawConsole(poweredge_sim)
    yield raw
    raw.close()


def test_dropped_replies_time_out_and_are_counted(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    poweredge_sim.set_faults(drop_rate=1.0)
    console.sock.settimeout(0.2)

    with pytest.raises(TimeoutError):
        console.send(PING)
    assert poweredge_sim.counters.packets_dropped == 1

    poweredge_sim.clear_faults()
    assert len(console.send(PING)) == PONG_LENGTH


def test_delayed_replies_arrive_late_but_intact(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    prompt = console.send(PING)
    poweredge_sim.set_faults(delay=0.25)

    started = time.perf_counter()
    late = console.send(PING)

    assert time.perf_counter() - started >= 0.25
    assert late == prompt


def test_garbage_and_truncated_replies(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    good = console.send(PING)
    poweredge_sim.set_faults(garbage_rate=1.0)
    garbage = console.send(PING)
    poweredge_sim.set_faults(garbage_rate=0.0, truncate_rate=1.0)
    truncated = console.send(PING)

    assert len(garbage) == len(good)
    assert garbage != good
    assert 0 < len(truncated) < len(good)
    assert good.startswith(truncated)


def test_python_ipmi_survives_a_share_of_dropped_replies(poweredge_sim_factory) -> None:
    """With retries a client gets through a 30 % loss; the drops are counted."""
    sim = poweredge_sim_factory("r730", seed=3)
    with pyipmi_session(sim) as ipmi:
        ipmi.interface.set_timeout(0.1)
        ipmi.interface.max_retries = 10
        sim.set_faults(drop_rate=0.3)
        codes = [send_raw(ipmi, 0x04, b"\x2d\x04")[0] for _ in range(20)]
        sim.clear_faults()

    assert codes == [0] * 20
    assert sim.counters.packets_dropped >= 3


def test_completion_code_override_per_command(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        poweredge_sim.override_completion_code(0x04, 0x2D, 0xCB)
        with pytest.raises(CompletionCodeError) as error:
            ipmi.get_sensor_reading(0x04)
        other = ipmi.get_device_id().manufacturer_id
        poweredge_sim.override_completion_code(0x30, 0x30, 0xC1)
        oem = send_raw(ipmi, 0x30, b"\x30\x01\x00")
        poweredge_sim.override_completion_code(0x04, 0x2D, None)
        reading = ipmi.get_sensor_reading(0x04)[0]

    assert error.value.cc == 0xCB
    assert other == 674
    assert oem == b"\xc1"
    assert poweredge_sim.mode == "automatic"  # the overridden command did nothing
    assert poweredge_sim.oem_log[-1].completion_code == 0xC1
    assert reading == 24


def test_restart_bmc_drops_sessions_and_manual_mode(
    poweredge_sim: SimulatedIdrac,
) -> None:
    ipmi = open_pyipmi(poweredge_sim)
    try:
        send_raw(ipmi, 0x30, b"\x30\x01\x00")
        assert poweredge_sim.mode == "manual"

        poweredge_sim.restart_bmc()

        assert poweredge_sim.open_sessions == []
        assert poweredge_sim.mode == "automatic"
        ipmi.interface.set_timeout(0.2)
        with pytest.raises(RetryError):
            send_raw(ipmi, 0x06, b"\x01")
    finally:
        ipmi.interface.close()
    with pyipmi_session(poweredge_sim) as fresh:
        assert fresh.get_device_id().manufacturer_id == 674


def test_restart_downtime_ignores_everything(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    poweredge_sim.restart_bmc(downtime=30.0)
    console.sock.settimeout(0.2)

    with pytest.raises(TimeoutError):
        console.send(PING)


def test_session_table_full_fault(poweredge_sim: SimulatedIdrac) -> None:
    poweredge_sim.set_faults(session_table_full=True)

    with (
        pytest.raises(MessageStatusCodeError) as refused,
        pyipmi_session(poweredge_sim),
    ):
        pass

    assert refused.value.msc == 0x01
    assert poweredge_sim.counters.sessions_refused == 1


def test_disabled_sensor_reads_disabled(poweredge_sim: SimulatedIdrac) -> None:
    poweredge_sim.disable_sensor("Inlet Temp")
    poweredge_sim.disable_sensor("Temp")

    rows = sdr_list(poweredge_sim)

    disabled = [
        name for name, value, status in rows if (value, status) == ("disabled", "ns")
    ]
    assert disabled == ["Inlet Temp", "Temp", "Temp"]
    poweredge_sim.enable_sensor(0x0E)
    assert [n for n, v, _ in sdr_list(poweredge_sim) if v == "disabled"] == [
        "Inlet Temp",
        "Temp",
    ]


def test_unknown_fault_and_sensor_names_are_refused(
    poweredge_sim: SimulatedIdrac,
) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        poweredge_sim.set_faults(drop=1.0)
    with pytest.raises(ValueError, match="between"):
        poweredge_sim.set_faults(drop_rate=2.0)
    with pytest.raises(KeyError):
        poweredge_sim.disable_sensor("CPU1 Temp")


def test_malformed_datagrams_are_ignored(
    poweredge_sim: SimulatedIdrac, console: RawConsole
) -> None:
    for junk in (
        b"",
        b"\x06",
        b"\x06\x00\xff\x07\x06\x10",
        b"\x06\x00\xff\x07\x00" + bytes(3),
    ):
        console.sock.send(junk)

    assert len(console.send(PING)) == PONG_LENGTH  # still serving
    assert ipmitool(poweredge_sim, "mc", "info").returncode == 0
