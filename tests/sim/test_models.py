"""Model quirks: sensor names, disabled CPU sensors, fan ids, firmware refusals."""

from __future__ import annotations

import re

import pytest

from poweredge_sim import MODELS

from .clients import ipmitool, pyipmi_session, rpm_values, sdr_list, send_raw

R510_FANS = [f"FAN MOD {m}{r}" for m in range(1, 6) for r in "AB"]


def test_r710_reports_cpu_temps_disabled(poweredge_sim_factory) -> None:
    sim = poweredge_sim_factory("r710")

    rows = sdr_list(sim)

    assert [n for n, _, _ in rows] == [
        "Ambient Temp",
        "Planar Temp",
        "Temp",
        "Temp",
        *(f"FAN {i} RPM" for i in range(1, 6)),
        "System Level",
    ]
    assert [(v, s) for n, v, s in rows if n == "Temp"] == [("disabled", "ns")] * 2
    assert re.fullmatch(r"\d+ Watts", {n: v for n, v, _ in rows}["System Level"])
    with pyipmi_session(sim) as ipmi:
        reading = send_raw(ipmi, 0x04, b"\x2d\x01")
    assert reading[2] & 0x40 == 0  # "sensor scanning disabled"


def test_r510_refuses_all_fans_id_and_takes_ids_0_to_7(poweredge_sim_factory) -> None:
    sim = poweredge_sim_factory("r510")
    with pyipmi_session(sim) as ipmi:
        manual = send_raw(ipmi, 0x30, b"\x30\x01\x00")
        all_fans = send_raw(ipmi, 0x30, b"\x30\x02\xff\x20")
        ids = [
            send_raw(ipmi, 0x30, bytes([0x30, 0x02, fan_id, 0x50]))
            for fan_id in range(10)
        ]
        one_module = send_raw(ipmi, 0x30, b"\x30\x02\x00\x20")

    assert (manual, all_fans, one_module) == (b"\x00", b"\xcc", b"\x00")
    assert ids == [b"\x00"] * 8 + [b"\xcc"] * 2
    rpm = rpm_values(sdr_list(sim))
    assert list(rpm) == R510_FANS
    fans = MODELS["r510"].fans
    for name in ("FAN MOD 1A", "FAN MOD 1B"):
        assert rpm[name] == pytest.approx(fans.rpm(32), rel=0.05)
    for name in R510_FANS[2:]:
        assert rpm[name] == pytest.approx(fans.rpm(80), rel=0.05)


def test_idrac9_334_answers_every_fan_command_with_d4(poweredge_sim_factory) -> None:
    sim = poweredge_sim_factory("r740-3.34")
    commands = [("0x01", "0x00"), ("0x02", "0xff", "0x20"), ("0x01", "0x01"), ()]

    results = [ipmitool(sim, "raw", "0x30", "0x30", *args) for args in commands]

    assert all(r.returncode != 0 and "rsp=0xd4" in r.stderr for r in results)
    assert sim.mode == "automatic"
    assert [e.completion_code for e in sim.oem_log] == [0xD4] * 4
    info = ipmitool(sim, "mc", "info").stdout
    assert re.search(r"Firmware Revision\s+: 3.34\n", info)


def test_idrac9_330_fan_commands_work_but_pcie_cooling_is_gone(
    poweredge_sim_factory,
) -> None:
    sim = poweredge_sim_factory("r740")
    with pyipmi_session(sim) as ipmi:
        manual = send_raw(ipmi, 0x30, b"\x30\x01\x00")
        speed = send_raw(ipmi, 0x30, b"\x30\x02\xff\x40")
        pcie = send_raw(ipmi, 0x30, b"\xce\x01\x16\x05\x00\x00\x00")

    assert (manual, speed, pcie) == (b"\x00", b"\x00", b"\xc1")
    assert sim.fan_duty == 64
    assert [n for n, _, _ in sdr_list(sim)][:4] == [
        "Inlet Temp",
        "Exhaust Temp",
        "Temp",
        "Temp",
    ]


def test_single_fan_ids_on_r730(poweredge_sim) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        send_raw(ipmi, 0x30, b"\x30\x01\x00")
        ok = send_raw(ipmi, 0x30, b"\x30\x02\x05\x64")
        missing = send_raw(ipmi, 0x30, b"\x30\x02\x06\x64")

    assert (ok, missing) == (b"\x00", b"\xcc")
    duties = poweredge_sim.fan_duties
    assert duties[5] == 100
    assert all(d < 100 for d in duties[:5])
    assert poweredge_sim.fan_duty is None  # not one duty for all fans


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x30", 0xC7),
        (b"\x30\x01", 0xC7),
        (b"\x30\x01\x02", 0xCC),
        (b"\x30\x01\x00\x00", 0xC7),
        (b"\x30\x03\x00", 0xCC),
        (b"\xce\x00\x16\x05\x00\x00\x00\x05\x00\x02\x00\x00", 0xCC),
        (b"\xce\x00\x16\x05", 0xC7),
        (b"\xce\x02", 0xCC),
        (b"\x99", 0xC1),
    ],
)
def test_malformed_oem_requests(poweredge_sim, data: bytes, code: int) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        assert send_raw(ipmi, 0x30, data) == bytes([code])
    assert poweredge_sim.mode == "automatic"
