"""SDR repository: Full Sensor Records and the raw sensor reading bytes.

Each sensor gets the linear conversion a Dell BMC uses for its kind
(y = M * x, two's complement for temperatures), so a client that ignores
M or the signedness reads nonsense instead of passing by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
import struct

from .machine import Reading
from .models import SensorKind, SensorSpec

SDR_VERSION = 0x51
FULL_SENSOR_RECORD = 0x01
THRESHOLD_READING_TYPE = 0x01
BMC_ADDRESS = 0x20
LAST_RECORD_ID = 0xFFFF

# Sensor type codes (IPMI 2.0 table 42-3); Dell files power under Current.
_TYPE_TEMPERATURE = 0x01
_TYPE_CURRENT = 0x03
_TYPE_FAN = 0x04
# Base units (table 43-15).
_UNIT_DEGREES_C = 0x01
_UNIT_WATTS = 0x06
_UNIT_RPM = 0x12
# Analog data format, bits 7:6 of Sensor Units 1.
_UNSIGNED = 0x00
_TWOS_COMPLEMENT = 0x80

# Threshold bits, shared by the readable mask and the reading status byte.
LNC, LC, LNR, UNC, UC, UNR = (1 << i for i in range(6))


@dataclass(frozen=True, slots=True)
class Conversion:
    """How one sensor kind is encoded: y = m * raw, plus its thresholds."""

    sensor_type: int
    unit: int
    m: int
    signed: bool
    # (lower critical, lower non-critical, upper non-critical, upper critical)
    thresholds: tuple[float | None, float | None, float | None, float | None]

    def to_raw(self, value: float) -> int:
        """Return the raw byte for a value, clamped to the byte's range."""
        raw = round(value / self.m)
        if self.signed:
            return max(-128, min(127, raw)) & 0xFF
        return max(0, min(255, raw))


CONVERSIONS: dict[SensorKind, Conversion] = {
    SensorKind.INLET: Conversion(
        _TYPE_TEMPERATURE, _UNIT_DEGREES_C, 1, True, (-7, 3, 42, 47)
    ),
    SensorKind.PLANAR: Conversion(
        _TYPE_TEMPERATURE, _UNIT_DEGREES_C, 1, True, (3, 8, 70, 75)
    ),
    SensorKind.PSU_INLET: Conversion(
        _TYPE_TEMPERATURE, _UNIT_DEGREES_C, 1, True, (None, None, 55, 60)
    ),
    SensorKind.EXHAUST: Conversion(
        _TYPE_TEMPERATURE, _UNIT_DEGREES_C, 1, True, (3, 8, 70, 75)
    ),
    SensorKind.CPU: Conversion(
        _TYPE_TEMPERATURE, _UNIT_DEGREES_C, 1, True, (3, 8, 85, 90)
    ),
    SensorKind.FAN: Conversion(
        _TYPE_FAN, _UNIT_RPM, 120, False, (360, 600, None, None)
    ),
    SensorKind.POWER: Conversion(
        _TYPE_CURRENT, _UNIT_WATTS, 14, False, (None, None, 896, 980)
    ),
}


def _thresholds(conv: Conversion) -> tuple[int, dict[int, int]]:
    """Return the readable-threshold mask and the raw byte per threshold bit."""
    lc, lnc, unc, uc = conv.thresholds
    raws = dict.fromkeys((LNC, LC, LNR, UNC, UC, UNR), 0)
    mask = 0
    for bit, value in ((LNC, lnc), (LC, lc), (UNC, unc), (UC, uc)):
        if value is not None:
            mask |= bit
            raws[bit] = conv.to_raw(value)
    return mask, raws


def full_sensor_record(record_id: int, sensor: SensorSpec) -> bytes:
    """Encode a Full Sensor Record (IPMI 2.0 table 43-1)."""
    conv = CONVERSIONS[sensor.kind]
    readable, raws = _thresholds(conv)
    name = sensor.name.encode("ascii")
    body = struct.pack(
        "<9B2H2B4B4B2BB3B2B6B2BHBB",
        BMC_ADDRESS,  # sensor owner id
        0x00,  # owner lun
        sensor.number,
        int(sensor.entity),
        sensor.instance,
        0x7F,  # initialization: scanning, events, thresholds, hysteresis, type
        0x54,  # capabilities: auto re-arm, readable hysteresis and thresholds
        conv.sensor_type,
        THRESHOLD_READING_TYPE,
        0x0000,  # assertion event mask / lower threshold reading mask
        0x0000,  # deassertion event mask / upper threshold reading mask
        readable,  # readable threshold mask (low byte of the 16-bit field)
        0x00,  # settable threshold mask: none
        _TWOS_COMPLEMENT if conv.signed else _UNSIGNED,
        conv.unit,
        0x00,  # modifier unit
        0x00,  # linearization: linear
        conv.m & 0xFF,
        (conv.m >> 2) & 0xC0,  # M bits 9:8 in 7:6, tolerance 0
        0x00,  # B LS
        0x00,  # B MS, accuracy LS
        0x00,  # accuracy MS, accuracy exp, direction
        0x00,  # R exp 0, B exp 0
        0x00,  # analog characteristic flags
        0x00,  # nominal reading
        0x00,  # normal maximum
        0x00,  # normal minimum
        0x7F if conv.signed else 0xFF,  # sensor maximum reading
        0x80 if conv.signed else 0x00,  # sensor minimum reading
        *(raws[bit] for bit in (UNR, UC, UNC, LNR, LC, LNC)),
        0x01,  # positive hysteresis
        0x01,  # negative hysteresis
        0x0000,  # reserved
        0x00,  # OEM
        0xC0 | len(name),  # 8-bit ASCII + Latin 1
    )
    body += name
    header = struct.pack("<HBBB", record_id, SDR_VERSION, FULL_SENSOR_RECORD, len(body))
    return header + body


def threshold_status(sensor: SensorSpec, value: float) -> int:
    """Return the threshold-comparison bits of a reading."""
    lc, lnc, unc, uc = CONVERSIONS[sensor.kind].thresholds
    status = 0
    if lnc is not None and value <= lnc:
        status |= LNC
    if lc is not None and value <= lc:
        status |= LC
    if unc is not None and value >= unc:
        status |= UNC
    if uc is not None and value >= uc:
        status |= UC
    return status


def sensor_reading_bytes(reading: Reading) -> bytes:
    """Encode the Get Sensor Reading response data (after the completion code).

    Byte 2 says whether the sensor is scanned at all (bit 6) and whether a
    value is available (bit 5 set = unavailable); clients show "Disabled"
    and "no reading" from these.
    """
    if not reading.scanning:
        return bytes([0x00, 0x00, 0xC0])
    if reading.value is None:
        return bytes([0x00, 0x60, 0xC0])
    conv = CONVERSIONS[reading.sensor.kind]
    status = threshold_status(reading.sensor, reading.value)
    return bytes([conv.to_raw(reading.value), 0xC0, 0xC0 | status])


def threshold_bytes(sensor: SensorSpec) -> bytes:
    """Encode the Get Sensor Thresholds response data."""
    mask, raws = _thresholds(CONVERSIONS[sensor.kind])
    return bytes([mask, *(raws[bit] for bit in (LNC, LC, LNR, UNC, UC, UNR))])


class SdrRepository:
    """The records of one model, addressed by record id 1..n."""

    def __init__(self, sensors: tuple[SensorSpec, ...]) -> None:
        self.records = {
            i + 1: full_sensor_record(i + 1, s) for i, s in enumerate(sensors)
        }

    def next_id(self, record_id: int) -> int:
        """Return the id after `record_id`, 0xFFFF after the last one."""
        return record_id + 1 if record_id + 1 in self.records else LAST_RECORD_ID

    def resolve(self, record_id: int) -> int | None:
        """Map the special ids 0 (first) and 0xFFFF (last) to real ones."""
        if record_id == 0:
            return min(self.records)
        if record_id == LAST_RECORD_ID:
            return max(self.records)
        return record_id if record_id in self.records else None
