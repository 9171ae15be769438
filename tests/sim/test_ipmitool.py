"""The simulator against Debian's ipmitool, the independent referee."""

from __future__ import annotations

import re

import pytest

from poweredge_sim import SimulatedIdrac
from tests.plugins.sim import SimFactory

from .clients import ipmitool, rpm_values, sdr_list

R730_NAMES = [
    "Inlet Temp",
    "Exhaust Temp",
    "Temp",
    "Temp",
    *(f"Fan{i}" for i in range(1, 7)),
    "Pwr Consumption",
    "PSU1 Inlet Temp",
    "PSU2 Inlet Temp",
]


def _number(value: str, unit: str) -> float:
    match = re.fullmatch(rf"(-?[\d.]+) {unit}", value)
    assert match, value
    return float(match.group(1))


@pytest.mark.parametrize("cipher", [3, 17])
def test_sdr_list_shows_r730_sensors_with_sane_values(
    poweredge_sim: SimulatedIdrac, cipher: int
) -> None:
    rows = sdr_list(poweredge_sim, cipher)

    assert [name for name, _, _ in rows] == R730_NAMES
    assert all(status == "ok" for _, _, status in rows)
    values = {name: value for name, value, _ in rows}
    assert _number(values["Inlet Temp"], "degrees C") == pytest.approx(24, abs=1)
    cpu = [_number(v, "degrees C") for n, v, _ in rows if n == "Temp"]
    assert all(30 <= t <= 60 for t in cpu)
    assert all(2000 <= rpm <= 6000 for rpm in rpm_values(rows).values())
    assert 100 <= _number(values["Pwr Consumption"], "Watts") <= 400
    counters = poweredge_sim.counters
    assert counters.sessions_total == 1
    assert counters.sessions_open == 0  # ipmitool closed its session


def test_elist_reports_entities_and_sensor_numbers(
    poweredge_sim: SimulatedIdrac,
) -> None:
    result = ipmitool(poweredge_sim, "sdr", "elist")

    assert result.returncode == 0, result.stderr
    rows = [
        [cell.strip() for cell in line.split("|")]
        for line in result.stdout.splitlines()
    ]
    assert rows[0][:4] == ["Inlet Temp", "04h", "ok", "7.1"]
    assert rows[3][:4] == ["Temp", "0Fh", "ok", "3.2"]
    assert rows[-2][:4] == ["PSU1 Inlet Temp", "64h", "ok", "10.1"]


def test_wrong_password_is_refused(poweredge_sim: SimulatedIdrac) -> None:
    result = ipmitool(poweredge_sim, "mc", "info", password="wrong", verbose=True)

    assert result.returncode != 0
    # The RAKP2 auth code is keyed with the real password, so ipmitool
    # itself detects the mismatch (as with a real BMC).
    assert "RAKP 2 HMAC is invalid" in result.stderr
    assert poweredge_sim.counters.sessions_total == 0


def test_unknown_user_is_refused_with_unauthorized_name(
    poweredge_sim: SimulatedIdrac,
) -> None:
    result = ipmitool(poweredge_sim, "mc", "info", user="nobody", verbose=True)

    assert result.returncode != 0
    assert "RAKP 2 message indicates an error : unauthorized name" in result.stderr
    assert poweredge_sim.open_sessions == []  # the half-open session was released


@pytest.mark.parametrize("cipher", [3, 17])
def test_mc_info_reports_dell_and_firmware(
    poweredge_sim: SimulatedIdrac, cipher: int
) -> None:
    result = ipmitool(poweredge_sim, "mc", "info", cipher=cipher)

    assert result.returncode == 0, result.stderr
    assert re.search(r"Manufacturer ID\s+: 674\n", result.stdout)
    assert re.search(r"Firmware Revision\s+: 2.86\n", result.stdout)


@pytest.mark.parametrize("model", ["r730", "r710"])
def test_fru_print_shows_the_model_and_service_tag(
    poweredge_sim_factory: SimFactory, model: str
) -> None:
    sim = poweredge_sim_factory(model, service_tag="7XK9R42")

    result = ipmitool(sim, "fru", "print", "0")

    assert result.returncode == 0, result.stderr
    assert re.search(rf"Product Name\s+: {sim.model.product}\n", result.stdout)
    assert re.search(r"Board Product\s+: PowerEdge R7[31]0\n", result.stdout)
    assert re.search(r"Product Serial\s+: 7XK9R42\n", result.stdout)
    assert re.search(r"Board Mfg\s+: DELL\n", result.stdout)
    assert "checksum" not in result.stdout + result.stderr.lower()


def test_only_fru_0_exists(poweredge_sim: SimulatedIdrac) -> None:
    result = ipmitool(poweredge_sim, "fru", "print", "1")

    assert "Device not present" in result.stdout + result.stderr


def test_mc_guid_matches_and_uses_ipmi_encoding(poweredge_sim: SimulatedIdrac) -> None:
    result = ipmitool(poweredge_sim, "mc", "guid")

    assert result.returncode == 0, result.stderr
    assert "GUID Encoding : IPMI" in result.stdout
    shown = re.search(r"System GUID\s+: ([0-9a-f-]+)", result.stdout)
    assert shown
    assert shown.group(1).replace("-", "") == poweredge_sim.guid[::-1].hex()


def test_raw_fan_commands_move_rpm_to_32_percent_and_back(
    poweredge_sim: SimulatedIdrac,
) -> None:
    automatic = rpm_values(sdr_list(poweredge_sim))
    fans = poweredge_sim.model.fans

    assert (
        ipmitool(poweredge_sim, "raw", "0x30", "0x30", "0x01", "0x00").returncode == 0
    )
    assert (
        ipmitool(
            poweredge_sim, "raw", "0x30", "0x30", "0x02", "0xff", "0x20"
        ).returncode
        == 0
    )
    manual = rpm_values(sdr_list(poweredge_sim))

    assert poweredge_sim.mode == "manual"
    assert poweredge_sim.fan_duty == 32
    expected = fans.rpm(32)
    assert all(abs(rpm - expected) <= 0.05 * expected for rpm in manual.values()), (
        manual
    )
    assert all(
        m > a + 1000 for m, a in zip(manual.values(), automatic.values(), strict=True)
    )

    assert (
        ipmitool(poweredge_sim, "raw", "0x30", "0x30", "0x01", "0x01").returncode == 0
    )
    back = rpm_values(sdr_list(poweredge_sim))

    assert poweredge_sim.mode == "automatic"
    assert poweredge_sim.fan_duty is None
    assert all(
        abs(b - a) <= 250
        for b, a in zip(back.values(), automatic.values(), strict=True)
    )
    assert [e.data for e in poweredge_sim.oem_log] == [
        b"\x01\x00",
        b"\x02\xff\x20",
        b"\x01\x01",
    ]


def test_fan_duty_over_100_is_out_of_range(poweredge_sim: SimulatedIdrac) -> None:
    result = ipmitool(poweredge_sim, "raw", "0x30", "0x30", "0x02", "0xff", "0x65")

    assert result.returncode != 0
    assert "rsp=0xc9" in result.stderr
    assert poweredge_sim.fan_duty is None


def test_chassis_power_status_follows_the_host(poweredge_sim: SimulatedIdrac) -> None:
    assert (
        "Chassis Power is on"
        in ipmitool(poweredge_sim, "chassis", "power", "status").stdout
    )

    poweredge_sim.set_power(False)

    assert (
        "Chassis Power is off"
        in ipmitool(poweredge_sim, "chassis", "power", "status").stdout
    )
    rows = sdr_list(poweredge_sim)
    assert ("Inlet Temp", "24 degrees C", "ok") in rows
    assert ("Fan1", "no reading", "ns") in rows
