"""The simulator against python-ipmi 0.6.1 (cipher suite 3; its suite 17 is wrong)."""

from __future__ import annotations

import pyipmi
import pyipmi.interfaces
import pytest

from poweredge_sim import SimulatedIdrac

from .clients import pyipmi_session, send_raw


def test_device_id_is_dell_with_model_firmware(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        device = ipmi.get_device_id()

    assert device.manufacturer_id == 674
    assert str(device.fw_revision) == "2.86"
    assert device.supports_function("sdr_repository")
    assert poweredge_sim.counters.sessions_total == 1
    assert poweredge_sim.open_sessions == []  # closed by python-ipmi


def test_reads_all_sdrs_and_readings_like_the_model(
    poweredge_sim: SimulatedIdrac,
) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        records = list(ipmi.sdr_repository_entries())
        values = {
            record.number: record.convert_sensor_raw_to_value(
                ipmi.get_sensor_reading(record.number)[0]
            )
            for record in records
        }

    assert [(r.device_id_string, r.number) for r in records] == [
        (s.name, s.number) for s in poweredge_sim.model.sensors
    ]
    cpus = [r for r in records if r.entity_id == 3]
    assert [(r.device_id_string, r.entity_instance) for r in cpus] == [
        ("Temp", 1),
        ("Temp", 2),
    ]
    for sensor, expected in poweredge_sim.readings():
        assert expected is not None
        tolerance = 0.05 * expected if sensor.kind.value == "fan" else 14
        assert values[sensor.number] == pytest.approx(expected, abs=tolerance), (
            sensor.name
        )


def test_oem_fan_commands_are_applied_and_logged(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        manual = send_raw(ipmi, 0x30, b"\x30\x01\x00")
        speed = send_raw(ipmi, 0x30, b"\x30\x02\xff\x46")
        too_fast = send_raw(ipmi, 0x30, b"\x30\x02\xff\x65")
        short = send_raw(ipmi, 0x30, b"\x30\x02\xff")
        duties = poweredge_sim.fan_duties
        automatic = send_raw(ipmi, 0x30, b"\x30\x01\x01")

    assert (manual, speed, too_fast, short, automatic) == (
        b"\x00",
        b"\x00",
        b"\xc9",
        b"\xc7",
        b"\x00",
    )
    assert duties == [70.0] * 6
    assert poweredge_sim.mode == "automatic"
    log = poweredge_sim.oem_log
    assert [(e.command, e.data, e.completion_code) for e in log] == [
        (0x30, b"\x01\x00", 0x00),
        (0x30, b"\x02\xff\x46", 0x00),
        (0x30, b"\x02\xff\x65", 0xC9),
        (0x30, b"\x02\xff", 0xC7),
        (0x30, b"\x01\x01", 0x00),
    ]
    assert [e.time for e in log] == sorted(e.time for e in log)


def test_pcie_cooling_response_can_be_disabled_and_read_back(
    poweredge_sim: SimulatedIdrac,
) -> None:
    key = b"\x16\x05\x00\x00\x00"
    with pyipmi_session(poweredge_sim) as ipmi:
        before = send_raw(ipmi, 0x30, b"\xce\x01" + key)
        disable = send_raw(ipmi, 0x30, b"\xce\x00" + key + b"\x05\x00\x01\x00\x00")
        after = send_raw(ipmi, 0x30, b"\xce\x01" + key)
        enable = send_raw(ipmi, 0x30, b"\xce\x00" + key + b"\x05\x00\x00\x00\x00")

    assert before == b"\x00" + key + b"\x05\x00\x00\x00\x00"
    assert disable == b"\x00"
    assert after == b"\x00" + key + b"\x05\x00\x01\x00\x00"
    assert enable == b"\x00"
    assert poweredge_sim.pcie_cooling_response


def test_system_name_parameter(poweredge_sim_factory) -> None:
    sim = poweredge_sim_factory("r730", system_name="pve-node-with-a-long-name")
    with pyipmi_session(sim) as ipmi:
        first = send_raw(ipmi, 0x06, b"\x59\x00\x02\x00\x00")
        second = send_raw(ipmi, 0x06, b"\x59\x00\x02\x01\x00")
        unsupported = send_raw(ipmi, 0x06, b"\x59\x00\x07\x00\x00")
        sim.system_name = ""
        empty = send_raw(ipmi, 0x06, b"\x59\x00\x02\x00\x00")

    assert first[:5] == b"\x00\x11\x00\x00\x19"  # cc, revision, set 0, ASCII, length 25
    assert first[5:19] + second[3:14] == b"pve-node-with-a-long-name"
    assert unsupported == b"\x80"
    assert empty == b"\x00\x11\x00\x00\x00" + bytes(14)


def test_chassis_status_and_guid(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        on = ipmi.get_chassis_status().power_on
        poweredge_sim.set_power(False)
        off = ipmi.get_chassis_status().power_on
        guid = send_raw(ipmi, 0x06, b"\x37")

    assert (on, off) == (True, False)
    assert guid == b"\x00" + poweredge_sim.guid


def test_suite_17_of_python_ipmi_fails_against_a_correct_bmc(
    poweredge_sim: SimulatedIdrac,
) -> None:
    """python-ipmi 0.6.1 derives K1/K2 with 32-byte constants at suite 17.

    RAKP (HMAC-SHA256) succeeds, then the first integrity-protected request
    is dropped for its bad auth code. ipmitool (20-byte constants, like real
    BMCs) works at 17 in test_ipmitool.py; if this starts failing,
    python-ipmi was fixed.
    """
    interface = pyipmi.interfaces.create_interface(
        "rmcpplus", keep_alive_interval=0, cipher_suite=17
    )
    ipmi = pyipmi.create_connection(interface)
    ipmi.session.set_session_type_rmcp("127.0.0.1", port=poweredge_sim.port)
    ipmi.session.set_auth_type_user(poweredge_sim.user, poweredge_sim.password)
    interface.open()
    interface.set_timeout(0.3)
    try:
        with pytest.raises(pyipmi.errors.RetryError):
            ipmi.session.establish()
    finally:
        interface.close()

    assert poweredge_sim.counters.sessions_total == 1
    assert (0x06, 0x3B) not in poweredge_sim.counters.commands
