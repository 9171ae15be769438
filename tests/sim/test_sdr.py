"""SDR repository commands and sensor thresholds."""

from __future__ import annotations

import re
import struct

from poweredge_sim import SimulatedIdrac

from .clients import ipmitool, pyipmi_session, send_raw


def _get_sdr(ipmi, reservation: int, record: int, offset: int, count: int) -> bytes:
    return send_raw(
        ipmi, 0x0A, b"\x23" + struct.pack("<HHBB", reservation, record, offset, count)
    )


def test_repository_info_counts_the_records(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        info = send_raw(ipmi, 0x0A, b"\x20")

    assert info[:2] == b"\x00\x51"
    assert struct.unpack("<H", info[2:4])[0] == len(poweredge_sim.model.sensors)


def test_partial_reads_need_the_current_reservation(
    poweredge_sim: SimulatedIdrac,
) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        first = struct.unpack("<H", send_raw(ipmi, 0x0A, b"\x22")[1:])[0]
        header = _get_sdr(ipmi, 0, 0, 0, 5)  # offset 0 needs no reservation
        partial = _get_sdr(ipmi, first, 1, 5, 8)
        second = struct.unpack("<H", send_raw(ipmi, 0x0A, b"\x22")[1:])[0]
        stale = _get_sdr(ipmi, first, 1, 5, 8)
        whole = _get_sdr(ipmi, second, 0xFFFF, 0, 0xFF)
        missing = _get_sdr(ipmi, second, 99, 0, 5)

    assert header[:3] == b"\x00\x02\x00"  # cc, next record id 2
    assert header[3:8] == b"\x01\x00\x51\x01" + bytes(
        [header[7]]
    )  # id 1, v1.5, full sensor
    assert partial[0] == 0x00
    assert (
        partial[3:6] == b"\x20\x00\x04"
    )  # owner 0x20, lun 0, sensor 0x04 (Inlet Temp)
    assert second != first
    assert stale == b"\xc5"
    assert whole[1:3] == b"\xff\xff"  # the last record has no next
    assert whole[-15:] == b"PSU2 Inlet Temp"
    assert missing == b"\xcb"


def test_thresholds_through_ipmitool_sensor_get(poweredge_sim: SimulatedIdrac) -> None:
    result = ipmitool(poweredge_sim, "sensor", "get", "Inlet Temp")

    assert result.returncode == 0, result.stderr
    assert re.search(r"Upper Critical\s+: 47\.000", result.stdout)
    assert re.search(r"Upper Non-Critical\s+: 42\.000", result.stdout)
    assert re.search(r"Lower Critical\s+: -7\.000", result.stdout)


def test_hot_reading_reports_crossed_thresholds(poweredge_sim: SimulatedIdrac) -> None:
    poweredge_sim.set_ambient(44.0)

    result = ipmitool(poweredge_sim, "sdr", "get", "Inlet Temp")

    assert re.search(r"Sensor Reading\s+: 44 ", result.stdout)
    assert re.search(r"Status\s+: Upper Non-Critical", result.stdout)
    assert re.search(r"Readable Thresholds\s+: lcr lnc unc ucr", result.stdout)
    assert re.search(r"Settable Thresholds\s+: \n", result.stdout)


def test_unknown_sensor_is_not_present(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        assert send_raw(ipmi, 0x04, b"\x2d\x99") == b"\xcb"
        assert send_raw(ipmi, 0x04, b"\x27\x99") == b"\xcb"
        assert send_raw(ipmi, 0x04, b"\x2d") == b"\xc7"


def test_python_ipmi_reads_thresholds(poweredge_sim: SimulatedIdrac) -> None:
    with pyipmi_session(poweredge_sim) as ipmi:
        thresholds = ipmi.get_sensor_thresholds(0x30)  # Fan1, M = 120

    assert thresholds == {"lnc": 5, "lcr": 3}


def test_sdr_read_limit_answers_ca_and_clients_shrink_their_reads(
    poweredge_sim: SimulatedIdrac,
) -> None:
    poweredge_sim.set_faults(sdr_read_limit=16)
    with pyipmi_session(poweredge_sim) as ipmi:
        reservation = struct.unpack("<H", send_raw(ipmi, 0x0A, b"\x22")[1:])[0]
        too_long = _get_sdr(ipmi, reservation, 1, 0, 0xFF)
        names = [r.device_id_string for r in ipmi.sdr_repository_entries()]

    assert too_long == b"\xca"
    assert names == [s.name for s in poweredge_sim.model.sensors]
    rows = ipmitool(poweredge_sim, "sdr", "list").stdout.splitlines()
    assert len(rows) == len(poweredge_sim.model.sensors)
    assert poweredge_sim.state()["faults"]["sdr_read_limit"] == 16
