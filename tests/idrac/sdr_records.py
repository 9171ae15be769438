"""Build SDR full sensor records (IPMI v2.0 table 43-1) as python-ipmi decodes them."""

from __future__ import annotations

import struct

from pyipmi.sdr import SdrCommon

TEMPERATURE = 0x01
VOLTAGE = 0x02
FAN = 0x04
CELSIUS = 1
VOLTS = 4
WATTS = 6
RPM = 18
PROCESSOR = 3
SYSTEM_BOARD = 7
POWER_SUPPLY = 10
TWOS_COMPLEMENT = 0x80  # sensor units 1, bits 7:6 = 10b
NO_ANALOG_READING = 0xC0


def full_record(
    record_id: int,
    number: int,
    name: str,
    *,
    sensor_type: int,
    unit: int,
    entity: int = SYSTEM_BOARD,
    instance: int = 1,
    m: int = 1,
    units_1: int = TWOS_COMPLEMENT,
    owner: int = 0x20,
    next_id: int = 0xFFFF,
) -> SdrCommon:
    """A threshold sensor: y = m * x, 8-bit ASCII name."""
    body = bytes((owner, 0x00, number, entity, instance, 0x7F, 0x68, sensor_type, 0x01))
    body += struct.pack("<HHH", 0x7A95, 0x7A95, 0x3F3F)
    body += bytes((units_1, unit, 0x00, 0x00))  # units 1, base, modifier, linear
    body += bytes(
        (m & 0xFF, (m >> 2) & 0xC0, 0x00, 0x00, 0x00, 0x00)
    )  # M, B, accuracy, exponents
    body += bytes(
        (0x00, 0, 0, 0, 0x7F, 0x80)
    )  # analog flags, nominal, normal max/min, max, min
    body += bytes(
        (0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0)
    )  # thresholds, hysteresis, reserved, OEM
    encoded = name.encode("latin-1")
    body += bytes((0xC0 | len(encoded),)) + encoded
    header = struct.pack("<HBBB", record_id, 0x51, 0x01, len(body))
    return SdrCommon.from_data(header + body, next_id)


def compact_record(
    record_id: int, number: int, name: str, *, next_id: int = 0xFFFF
) -> SdrCommon:
    """A compact (discrete) record: never readable as a value."""
    body = bytes((0x20, 0x00, number, SYSTEM_BOARD, 1, 0x7F, 0x68, 0x08, 0x6F))
    body += bytes(17)  # masks, units, sharing, hysteresis, reserved, OEM
    encoded = name.encode("latin-1")
    body += bytes((0xC0 | len(encoded),)) + encoded
    header = struct.pack("<HBBB", record_id, 0x51, 0x02, len(body))
    return SdrCommon.from_data(header + body, next_id)
