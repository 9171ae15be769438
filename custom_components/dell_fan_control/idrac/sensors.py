"""SDR repository walk, sensor classification and reading conversion.

Pure functions over bytes and python-ipmi's SDR record objects, so they can be tested
without a BMC. Classification follows what Dell firmware exposes (docs: peer study §5):
CPUs by entity 3.N because both are named "Temp", inlet/exhaust by exact name because
PSU sensors are called "PSU1 Inlet Temp", fans by the RPM unit, power by watts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
import re
import struct
from typing import TYPE_CHECKING

from pyipmi.errors import DecodingError
from pyipmi.sdr import SdrCommon, SdrFullSensorRecord

from .completion import (
    CC_CANNOT_RETURN_BYTES,
    CC_RESERVATION_CANCELED,
    checked,
    completion_error,
)
from .models import (
    IdracProtocolError,
    SensorInfo,
    SensorKind,
    SensorSample,
    SensorStatus,
)

if TYPE_CHECKING:
    from .compat import SensorReading

NETFN_STORAGE = 0x0A
CMD_RESERVE_SDR_REPOSITORY = 0x22
CMD_GET_SDR = 0x23
LAST_RECORD_ID = 0xFFFF
SDR_HEADER_LENGTH = 5
SDR_READ_LENGTHS = (32, 16, 8)  # reduced when the BMC answers 0xCA
SDR_WALK_ATTEMPTS = 3  # restarts after the repository changed under our reservation
MAX_SDR_RECORDS = 1024  # a BMC whose next-record ids loop must not hang us

BMC_SLAVE_ADDRESS = 0x20
SENSOR_TYPE_TEMPERATURE = 0x01
ENTITY_PROCESSOR = 3
ENTITY_INSTANCE_MASK = 0x7F  # bit 7 only says "device-relative"
DATA_FORMAT_NO_READING = 3

# SDR base unit type codes (IPMI v2.0 §43.17).
UNIT_CELSIUS = 1
UNIT_FAHRENHEIT = 2
UNIT_KELVIN = 3
UNIT_WATTS = 6
UNIT_RPM = 18
TEMPERATURE_UNITS = {UNIT_CELSIUS: "°C", UNIT_FAHRENHEIT: "°F", UNIT_KELVIN: "K"}

INLET_NAMES = frozenset({"Inlet Temp", "Ambient Temp"})  # Ambient on iDRAC 6
EXHAUST_NAMES = frozenset({"Exhaust Temp"})
SYSTEM_POWER_NAMES = frozenset(
    {"Pwr Consumption", "System Level"}
)  # System Level on iDRAC 6
POWER_KEY = "power_consumption"
# Below this a Dell temperature sensor is disconnected, not cold.
DISCONNECTED_TEMPERATURE = -40.0

_TEMPERATURE_KINDS = frozenset(
    {
        SensorKind.CPU_TEMPERATURE,
        SensorKind.INLET_TEMPERATURE,
        SensorKind.EXHAUST_TEMPERATURE,
        SensorKind.OTHER_TEMPERATURE,
    }
)

# Threshold comparison states (Get Sensor Reading byte 3, bits 5:0).
_NON_RECOVERABLE_BITS = 0x24
_CRITICAL_BITS = 0x12
_NON_CRITICAL_BITS = 0x09

type SendRaw = Callable[[int, bytes], bytes]
"""send_raw bound to LUN 0: (netfn, command and data) -> completion code and data."""


class SdrRepositoryChangedError(IdracProtocolError):
    """The SDR repository kept changing while we read it (reservation canceled)."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A readable sensor: what the integration sees, and the record to convert readings."""

    info: SensorInfo
    record: SdrFullSensorRecord


def read_sdr_repository(send: SendRaw) -> list[SdrCommon]:
    """Read and decode every record of the SDR repository.

    Raises:
        SdrRepositoryChangedError: The reservation was canceled on every attempt.
        IdracProtocolError: A record could not be read or decoded.
    """
    for _ in range(SDR_WALK_ATTEMPTS):
        try:
            return list(_walk(send))
        except _ReservationCanceledError:
            continue
    raise SdrRepositoryChangedError("SDR repository changed during every read")


class _ReservationCanceledError(Exception):
    """Get SDR answered 0xC5: start the walk again with a new reservation."""


def _walk(send: SendRaw) -> Iterator[SdrCommon]:
    reservation = checked(
        send(NETFN_STORAGE, bytes([CMD_RESERVE_SDR_REPOSITORY])),
        "Reserve SDR Repository",
        2,
    )[:2]
    read_lengths = list(SDR_READ_LENGTHS)
    record_id = 0
    for _ in range(MAX_SDR_RECORDS):
        next_id, header = _get_sdr(send, reservation, record_id, 0, SDR_HEADER_LENGTH)
        record_id = struct.unpack_from("<H", header)[0]
        data = bytearray(header)
        total = SDR_HEADER_LENGTH + header[4]
        while len(data) < total:
            length = min(read_lengths[0], total - len(data))
            try:
                _, chunk = _get_sdr(send, reservation, record_id, len(data), length)
            except _ChunkTooLongError:
                if len(read_lengths) == 1:
                    raise
                read_lengths.pop(0)
                continue
            data += chunk
        try:
            yield SdrCommon.from_data(bytes(data[:total]), next_id)
        except (DecodingError, IndexError, ValueError) as err:
            raise IdracProtocolError(f"SDR record 0x{record_id:04X}: {err}") from err
        if next_id == LAST_RECORD_ID:
            return
        record_id = next_id
    raise IdracProtocolError(f"SDR repository has more than {MAX_SDR_RECORDS} records")


class _ChunkTooLongError(IdracProtocolError):
    """Get SDR answered 0xCA: ask for fewer bytes, if we still can."""


def _get_sdr(
    send: SendRaw, reservation: bytes, record_id: int, offset: int, length: int
) -> tuple[int, bytes]:
    request = (
        bytes([CMD_GET_SDR])
        + reservation
        + struct.pack("<HBB", record_id, offset, length)
    )
    response = send(NETFN_STORAGE, request)
    if response[:1] == bytes([CC_RESERVATION_CANCELED]):
        raise _ReservationCanceledError
    if response[:1] == bytes([CC_CANNOT_RETURN_BYTES]):
        raise _ChunkTooLongError(
            str(completion_error(CC_CANNOT_RETURN_BYTES, "Get SDR"))
        )
    data = checked(response, f"Get SDR 0x{record_id:04X}", 2 + length)
    return struct.unpack_from("<H", data)[0], bytes(data[2 : 2 + length])


def slugify(name: str) -> str:
    """Lower-case key from a sensor name: "FAN MOD 1A" -> "fan_mod_1a"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def build_catalog(records: Iterable[SdrCommon]) -> list[CatalogEntry]:
    """The sensors the integration uses, with unique keys, in repository order.

    Keys only depend on the records, so the same SDR always gives the same keys;
    a repeated key gets "_2", "_3"... in repository order.
    """
    catalog: list[CatalogEntry] = []
    used: set[str] = set()
    for record in records:
        classified = _classify(record)
        if classified is None:
            continue
        kind, base_key, unit = classified
        key = base_key
        suffix = 2
        while key in used:
            key = f"{base_key}_{suffix}"
            suffix += 1
        used.add(key)
        info = SensorInfo(
            key=key,
            name=record.device_id_string,
            kind=kind,
            number=record.number,
            entity_id=record.entity_id,
            entity_instance=record.entity_instance & ENTITY_INSTANCE_MASK,
            unit=unit,
        )
        catalog.append(CatalogEntry(info=info, record=record))
    return catalog


def _classify(record: SdrCommon) -> tuple[SensorKind, str, str] | None:
    if (
        not isinstance(record, SdrFullSensorRecord)
        or record.owner_id != BMC_SLAVE_ADDRESS
        or record.analog_data_format == DATA_FORMAT_NO_READING
    ):
        return None
    name: str = record.device_id_string
    slug = slugify(name) or f"sensor_{record.number:02x}"
    if (
        record.sensor_type_code == SENSOR_TYPE_TEMPERATURE
        and record.units_2 in TEMPERATURE_UNITS
    ):
        unit = TEMPERATURE_UNITS[record.units_2]
        if record.entity_id == ENTITY_PROCESSOR:
            instance = record.entity_instance & ENTITY_INSTANCE_MASK
            return SensorKind.CPU_TEMPERATURE, f"cpu{instance}_temperature", unit
        if name in INLET_NAMES:
            return SensorKind.INLET_TEMPERATURE, "inlet_temperature", unit
        if name in EXHAUST_NAMES:
            return SensorKind.EXHAUST_TEMPERATURE, "exhaust_temperature", unit
        return SensorKind.OTHER_TEMPERATURE, slug, unit
    if record.units_2 == UNIT_RPM:
        return SensorKind.FAN, slug, "RPM"
    if record.units_2 == UNIT_WATTS:
        return SensorKind.POWER, POWER_KEY if name in SYSTEM_POWER_NAMES else slug, "W"
    return None


def to_sample(entry: CatalogEntry, reading: SensorReading) -> SensorSample:
    """Convert a reading with the record's factors; no reading stays None, never 0 or -40."""
    if reading.raw is None:
        return SensorSample(value=None, status=SensorStatus.NO_READING)
    try:
        value = entry.record.convert_sensor_raw_to_value(reading.raw)
    except DecodingError, ArithmeticError, ValueError:
        value = None
    if (
        value is not None
        and entry.info.kind in _TEMPERATURE_KINDS
        and value <= DISCONNECTED_TEMPERATURE
    ):
        value = None
    if value is None:
        return SensorSample(value=None, status=SensorStatus.NO_READING)
    return SensorSample(value=round(value, 3), status=_status(reading.threshold_states))


def _status(states: int) -> SensorStatus:
    if states & _NON_RECOVERABLE_BITS:
        return SensorStatus.NON_RECOVERABLE
    if states & _CRITICAL_BITS:
        return SensorStatus.CRITICAL
    if states & _NON_CRITICAL_BITS:
        return SensorStatus.NON_CRITICAL
    return SensorStatus.OK
