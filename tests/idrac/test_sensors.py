"""SDR walk, classification and reading conversion, on python-ipmi's own record objects."""

from __future__ import annotations

import struct

import pytest

from custom_components.dell_fan_control.idrac.compat import SensorReading
from custom_components.dell_fan_control.idrac.models import (
    IdracProtocolError,
    SensorKind,
    SensorStatus,
)
from custom_components.dell_fan_control.idrac.sensors import (
    SdrRepositoryChangedError,
    build_catalog,
    read_sdr_repository,
    slugify,
    to_sample,
)

from .sdr_records import (
    CELSIUS,
    FAN,
    NO_ANALOG_READING,
    POWER_SUPPLY,
    PROCESSOR,
    RPM,
    TEMPERATURE,
    VOLTAGE,
    VOLTS,
    WATTS,
    compact_record,
    full_record,
)

R730_LIKE = [
    full_record(1, 0x04, "Inlet Temp", sensor_type=TEMPERATURE, unit=CELSIUS),
    full_record(2, 0x01, "Exhaust Temp", sensor_type=TEMPERATURE, unit=CELSIUS),
    full_record(
        3, 0x0E, "Temp", sensor_type=TEMPERATURE, unit=CELSIUS, entity=PROCESSOR
    ),
    full_record(
        4,
        0x0F,
        "Temp",
        sensor_type=TEMPERATURE,
        unit=CELSIUS,
        entity=PROCESSOR,
        instance=2,
    ),
    full_record(5, 0x30, "Fan1", sensor_type=FAN, unit=RPM, m=120, units_1=0),
    full_record(6, 0x31, "Fan2", sensor_type=FAN, unit=RPM, m=120, units_1=0),
    full_record(
        7, 0x77, "Pwr Consumption", sensor_type=0x0B, unit=WATTS, m=14, units_1=0
    ),
    full_record(
        8,
        0x64,
        "PSU1 Inlet Temp",
        sensor_type=TEMPERATURE,
        unit=CELSIUS,
        entity=POWER_SUPPLY,
    ),
    full_record(9, 0x6A, "Voltage 1", sensor_type=VOLTAGE, unit=VOLTS),
    compact_record(10, 0x70, "Intrusion"),
    full_record(
        11, 0x71, "OEM Status", sensor_type=0xC0, unit=0, units_1=NO_ANALOG_READING
    ),
    full_record(
        12, 0x05, "Remote Temp", sensor_type=TEMPERATURE, unit=CELSIUS, owner=0x2C
    ),
]


def test_r730_like_sdr_is_classified_by_entity_exact_name_and_unit() -> None:
    catalog = build_catalog(R730_LIKE)

    found = {entry.info.key: (entry.info.kind, entry.info.number) for entry in catalog}
    assert found == {
        "inlet_temperature": (SensorKind.INLET_TEMPERATURE, 0x04),
        "exhaust_temperature": (SensorKind.EXHAUST_TEMPERATURE, 0x01),
        "cpu1_temperature": (SensorKind.CPU_TEMPERATURE, 0x0E),
        "cpu2_temperature": (SensorKind.CPU_TEMPERATURE, 0x0F),
        "fan1": (SensorKind.FAN, 0x30),
        "fan2": (SensorKind.FAN, 0x31),
        "power_consumption": (SensorKind.POWER, 0x77),
        "psu1_inlet_temp": (SensorKind.OTHER_TEMPERATURE, 0x64),
    }
    units = {entry.info.key: entry.info.unit for entry in catalog}
    assert units["cpu1_temperature"] == "°C"
    assert units["fan1"] == "RPM"
    assert units["power_consumption"] == "W"


def test_idrac6_names_ambient_is_inlet_and_system_level_is_power() -> None:
    catalog = build_catalog(
        [
            full_record(1, 0x0E, "Ambient Temp", sensor_type=TEMPERATURE, unit=CELSIUS),
            full_record(2, 0x0F, "Planar Temp", sensor_type=TEMPERATURE, unit=CELSIUS),
            full_record(3, 0x50, "FAN MOD 1A", sensor_type=FAN, unit=RPM, units_1=0),
            full_record(
                4, 0x60, "System Level", sensor_type=0x0B, unit=WATTS, units_1=0
            ),
        ]
    )

    assert [(e.info.key, e.info.kind) for e in catalog] == [
        ("inlet_temperature", SensorKind.INLET_TEMPERATURE),
        ("planar_temp", SensorKind.OTHER_TEMPERATURE),
        ("fan_mod_1a", SensorKind.FAN),
        ("power_consumption", SensorKind.POWER),
    ]


def test_repeated_keys_get_suffixes_in_repository_order() -> None:
    records = [
        full_record(1, 0x30, "Fan 1", sensor_type=FAN, unit=RPM, units_1=0),
        full_record(2, 0x31, "FAN-1", sensor_type=FAN, unit=RPM, units_1=0),
        full_record(3, 0x32, "fan 1", sensor_type=FAN, unit=RPM, units_1=0),
        full_record(
            4, 0x0E, "CPU", sensor_type=TEMPERATURE, unit=CELSIUS, entity=PROCESSOR
        ),
        # Device-relative instance 0x81: bit 7 is not part of the CPU number.
        full_record(
            5,
            0x0F,
            "CPU",
            sensor_type=TEMPERATURE,
            unit=CELSIUS,
            entity=PROCESSOR,
            instance=0x81,
        ),
    ]

    keys = [entry.info.key for entry in build_catalog(records)]

    assert keys == [
        "fan_1",
        "fan_1_2",
        "fan_1_3",
        "cpu1_temperature",
        "cpu1_temperature_2",
    ]
    assert keys == [entry.info.key for entry in build_catalog(records)]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("FAN MOD 1A", "fan_mod_1a"),
        ("Fan1A RPM", "fan1a_rpm"),
        (" PSU2 Inlet Temp ", "psu2_inlet_temp"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_nameless_sensor_gets_key_from_its_number() -> None:
    catalog = build_catalog([full_record(1, 0x3A, "##", sensor_type=FAN, unit=RPM)])
    assert catalog[0].info.key == "sensor_3a"


CPU = build_catalog(R730_LIKE)[2]
FAN1 = build_catalog(R730_LIKE)[4]


@pytest.mark.parametrize(
    ("entry", "reading", "value", "status"),
    [
        (CPU, SensorReading(raw=40, threshold_states=0), 40.0, SensorStatus.OK),
        (
            CPU,
            SensorReading(raw=None, threshold_states=0),
            None,
            SensorStatus.NO_READING,
        ),
        # -40 degC (raw 0xD8) is what a disconnected Dell temperature sensor reads.
        (
            CPU,
            SensorReading(raw=0xD8, threshold_states=0),
            None,
            SensorStatus.NO_READING,
        ),
        (
            CPU,
            SensorReading(raw=90, threshold_states=0x08),
            90.0,
            SensorStatus.NON_CRITICAL,
        ),
        (
            CPU,
            SensorReading(raw=95, threshold_states=0x18),
            95.0,
            SensorStatus.CRITICAL,
        ),
        (
            CPU,
            SensorReading(raw=99, threshold_states=0x38),
            99.0,
            SensorStatus.NON_RECOVERABLE,
        ),
        # A stopped fan is a real 0 RPM, it must not become None.
        (
            FAN1,
            SensorReading(raw=0, threshold_states=0x01),
            0.0,
            SensorStatus.NON_CRITICAL,
        ),
        (FAN1, SensorReading(raw=30, threshold_states=0), 3600.0, SensorStatus.OK),
    ],
)
def test_to_sample(entry, reading, value, status) -> None:
    sample = to_sample(entry, reading)
    assert (sample.value, sample.status) == (value, status)


class FakeRepository:
    """Answers Reserve SDR Repository / Get SDR from encoded records, with injected faults."""

    def __init__(
        self, records, *, max_read: int = 255, cancel_reservations: int = 0
    ) -> None:
        self.data = {}
        ids = [struct.unpack_from("<H", bytes(r.data))[0] for r in records]
        for index, record in enumerate(records):
            next_id = ids[index + 1] if index + 1 < len(ids) else 0xFFFF
            self.data[ids[index]] = (bytes(record.data), next_id)
        self.first_id = ids[0]
        self.max_read = max_read
        self.cancel_reservations = cancel_reservations
        self.reservation = 0
        self.requests: list[bytes] = []

    def send(self, netfn: int, request: bytes) -> bytes:
        assert netfn == 0x0A
        self.requests.append(request)
        if request[0] == 0x22:
            self.reservation += 1
            return b"\x00" + struct.pack("<H", self.reservation)
        assert request[0] == 0x23
        reservation, record_id, offset, length = struct.unpack("<HHBB", request[1:])
        if offset and reservation != self.reservation:
            return b"\xc5"
        if offset and self.cancel_reservations:
            self.cancel_reservations -= 1
            self.reservation += 1  # the repository changed under the reader
            return b"\xc5"
        if length > self.max_read:
            return b"\xca"
        data, next_id = self.data[self.first_id if record_id == 0 else record_id]
        return b"\x00" + struct.pack("<H", next_id) + data[offset : offset + length]


def test_sdr_walk_reads_every_record_in_chunks() -> None:
    repository = FakeRepository(R730_LIKE)

    records = read_sdr_repository(repository.send)

    assert [r.data for r in records] == [r.data for r in R730_LIKE]
    assert [r.device_id_string for r in records][:3] == [
        "Inlet Temp",
        "Exhaust Temp",
        "Temp",
    ]


def test_sdr_walk_asks_for_fewer_bytes_after_0xca() -> None:
    repository = FakeRepository(R730_LIKE[:2], max_read=16)

    records = read_sdr_repository(repository.send)

    assert [r.device_id_string for r in records] == ["Inlet Temp", "Exhaust Temp"]
    assert (
        max(request[-1] for request in repository.requests if request[0] == 0x23) == 32
    )
    assert repository.requests[-1][-1] <= 16


def test_sdr_walk_starts_over_when_the_reservation_is_canceled() -> None:
    repository = FakeRepository(R730_LIKE[:3], cancel_reservations=2)

    records = read_sdr_repository(repository.send)

    assert len(records) == 3
    assert repository.reservation == 5  # 3 reservations + 2 changes


def test_sdr_walk_gives_up_when_the_repository_keeps_changing() -> None:
    repository = FakeRepository(R730_LIKE[:3], cancel_reservations=100)

    with pytest.raises(SdrRepositoryChangedError):
        read_sdr_repository(repository.send)


def test_sdr_walk_error_code_is_a_protocol_error() -> None:
    def send(netfn: int, request: bytes) -> bytes:
        return b"\x00\x01\x00" if request[0] == 0x22 else b"\xcb"

    with pytest.raises(IdracProtocolError, match="0xCB"):
        read_sdr_repository(send)


def test_sdr_walk_stops_on_looping_record_ids() -> None:
    record = bytes(R730_LIKE[0].data)

    def send(netfn: int, request: bytes) -> bytes:
        if request[0] == 0x22:
            return b"\x00\x01\x00"
        _, _, offset, length = struct.unpack("<HHBB", request[1:])
        return b"\x00\x01\x00" + record[offset : offset + length]  # next id is always 1

    with pytest.raises(IdracProtocolError, match="more than"):
        read_sdr_repository(send)


def test_reading_of_a_non_linear_sensor_is_none() -> None:
    (entry,) = build_catalog(
        [full_record(1, 0x04, "Inlet Temp", sensor_type=TEMPERATURE, unit=CELSIUS)]
    )
    entry.record.linearization = 0x70  # "non-linear": needs Get Sensor Reading Factors

    sample = to_sample(entry, SensorReading(raw=40, threshold_states=0))

    assert (sample.value, sample.status) == (None, SensorStatus.NO_READING)


def test_sdr_walk_gives_up_when_even_8_bytes_are_too_many() -> None:
    repository = FakeRepository(R730_LIKE[:1], max_read=6)
    with pytest.raises(IdracProtocolError, match="0xCA"):
        read_sdr_repository(repository.send)


def test_undecodable_record_is_a_protocol_error() -> None:
    record = bytearray(R730_LIKE[0].data)
    record[4] = 8  # a full sensor record cut to 8 bytes

    def send(netfn: int, request: bytes) -> bytes:
        if request[0] == 0x22:
            return b"\x00\x01\x00"
        _, _, offset, length = struct.unpack("<HHBB", request[1:])
        return b"\x00\xff\xff" + bytes(record[offset : offset + length])

    with pytest.raises(IdracProtocolError, match="SDR record 0x0001"):
        read_sdr_repository(send)
