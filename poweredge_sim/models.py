"""The simulated PowerEdge models: sensors, firmware and Dell OEM quirks.

Sensor names, entity ids and quirks follow what users report from real
machines (see docs and the issue), because the client has to cope with
exactly these: repeated names (`Temp` per CPU), look-alike names
(`PSU1 Inlet Temp`), disabled CPU sensors on 11G, fan ids that do not
match the number of RPM sensors, and firmware that refuses fan commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class SensorKind(Enum):
    """What physical quantity a sensor reports; decides how it is computed."""

    INLET = "inlet"
    EXHAUST = "exhaust"
    PLANAR = "planar"
    CPU = "cpu"
    PSU_INLET = "psu_inlet"
    FAN = "fan"
    POWER = "power"


class Entity(IntEnum):
    """IPMI entity ids used by Dell (IPMI 2.0 table 43-13)."""

    PROCESSOR = 0x03
    SYSTEM_BOARD = 0x07
    POWER_SUPPLY = 0x0A


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One threshold sensor of a model.

    `index` selects the CPU socket, fan rotor or PSU the sensor belongs to
    (0-based). `disabled` marks sensors the firmware never scans, like the
    CPU sensors of an iDRAC6.
    """

    name: str
    number: int
    kind: SensorKind
    entity: Entity
    instance: int
    index: int = 0
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class FanSpec:
    """Fan hardware: RPM at a duty, and which rotors each OEM fan id drives."""

    idle_rpm: float
    rpm_per_percent: float
    # OEM fan id (the byte of `30 30 02 <id> <duty>`) -> indexes of the FAN
    # sensors it drives; an id mapped to () is accepted but drives nothing.
    ids: dict[int, tuple[int, ...]]
    accepts_all: bool = True

    def rpm(self, duty: float) -> float:
        """Return the nominal RPM at a duty in percent (before noise)."""
        return self.idle_rpm + self.rpm_per_percent * duty


@dataclass(frozen=True, slots=True)
class Firmware:
    """What Get Device ID reports, and whether the fan commands are allowed."""

    major: int
    minor: int  # the decimal digits, e.g. 30 for "3.30"
    build: int
    product_id: int
    fan_commands_code: int = 0x00  # 0xD4 on iDRAC9 >= 3.34
    pcie_cooling_commands: bool = True  # 0x30 0xCE answers 0xC1 on 14G

    @property
    def version(self) -> str:
        """Return the firmware version as shown in the iDRAC web UI."""
        return f"{self.major}.{self.minor:02d}.{self.minor:02d}.{self.minor:02d}"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A PowerEdge model with its iDRAC firmware."""

    key: str
    product: str
    firmware: Firmware
    sensors: tuple[SensorSpec, ...]
    fans: FanSpec
    idle_watts: float
    max_watts: float
    auto_min_duty: float  # the floor of the iDRAC's own fan curve

    @property
    def fan_count(self) -> int:
        """Return the number of FAN (RPM) sensors."""
        return sum(1 for sensor in self.sensors if sensor.kind is SensorKind.FAN)


def _fans(names: list[str], first_number: int) -> tuple[SensorSpec, ...]:
    return tuple(
        SensorSpec(name, first_number + i, SensorKind.FAN, Entity.SYSTEM_BOARD, 1, i)
        for i, name in enumerate(names)
    )


def _cpus(first_number: int, *, disabled: bool) -> tuple[SensorSpec, ...]:
    return tuple(
        SensorSpec(
            "Temp",
            first_number + i,
            SensorKind.CPU,
            Entity.PROCESSOR,
            i + 1,
            i,
            disabled,
        )
        for i in range(2)
    )


def _psu_inlets(first_number: int) -> tuple[SensorSpec, ...]:
    return tuple(
        SensorSpec(
            f"PSU{i + 1} Inlet Temp",
            first_number + i,
            SensorKind.PSU_INLET,
            Entity.POWER_SUPPLY,
            i + 1,
            i,
        )
        for i in range(2)
    )


def _one_id_per_fan(count: int) -> dict[int, tuple[int, ...]]:
    return {i: (i,) for i in range(count)}


_GEN13_SENSORS = (
    SensorSpec("Inlet Temp", 0x04, SensorKind.INLET, Entity.SYSTEM_BOARD, 1),
    SensorSpec("Exhaust Temp", 0x01, SensorKind.EXHAUST, Entity.SYSTEM_BOARD, 1),
    *_cpus(0x0E, disabled=False),
    *_fans([f"Fan{i}" for i in range(1, 7)], 0x30),
    SensorSpec("Pwr Consumption", 0x77, SensorKind.POWER, Entity.SYSTEM_BOARD, 1),
    *_psu_inlets(0x64),
)

_GEN13_FANS = FanSpec(idle_rpm=1560.0, rpm_per_percent=156.0, ids=_one_id_per_fan(6))

_GEN11_TEMPS = (
    SensorSpec("Ambient Temp", 0x0E, SensorKind.INLET, Entity.SYSTEM_BOARD, 1),
    SensorSpec("Planar Temp", 0x0F, SensorKind.PLANAR, Entity.SYSTEM_BOARD, 1),
    *_cpus(0x01, disabled=True),
)

R730 = ModelSpec(
    key="r730",
    product="PowerEdge R730",
    firmware=Firmware(major=2, minor=86, build=0x06, product_id=0x0100),
    sensors=_GEN13_SENSORS,
    fans=_GEN13_FANS,
    idle_watts=112.0,
    max_watts=420.0,
    auto_min_duty=13.0,
)

R740 = ModelSpec(
    key="r740",
    product="PowerEdge R740",
    firmware=Firmware(
        major=3, minor=30, build=0x1E, product_id=0x0200, pcie_cooling_commands=False
    ),
    sensors=_GEN13_SENSORS,
    fans=_GEN13_FANS,
    idle_watts=126.0,
    max_watts=500.0,
    auto_min_duty=15.0,
)

R740_334 = ModelSpec(
    key="r740-3.34",
    product="PowerEdge R740",
    firmware=Firmware(
        major=3,
        minor=34,
        build=0x22,
        product_id=0x0200,
        fan_commands_code=0xD4,
        pcie_cooling_commands=False,
    ),
    sensors=_GEN13_SENSORS,
    fans=_GEN13_FANS,
    idle_watts=126.0,
    max_watts=500.0,
    auto_min_duty=15.0,
)

R710 = ModelSpec(
    key="r710",
    product="PowerEdge R710",
    firmware=Firmware(major=2, minor=92, build=0x05, product_id=0x0100),
    sensors=(
        *_GEN11_TEMPS,
        *_fans([f"FAN {i} RPM" for i in range(1, 6)], 0x30),
        SensorSpec("System Level", 0x77, SensorKind.POWER, Entity.SYSTEM_BOARD, 1),
    ),
    fans=FanSpec(idle_rpm=1800.0, rpm_per_percent=90.0, ids=_one_id_per_fan(5)),
    idle_watts=150.0,
    max_watts=450.0,
    auto_min_duty=20.0,
)

# R510: ten rotors (FAN MOD 1A..5B) but only ids 0-7 exist, and 0xFF is
# refused. Ids 0-4 drive the five dual-rotor modules; 5-7 are accepted but
# drive no fan that has a sensor.
R510 = ModelSpec(
    key="r510",
    product="PowerEdge R510",
    firmware=Firmware(major=1, minor=95, build=0x03, product_id=0x0100),
    sensors=(
        *_GEN11_TEMPS,
        *_fans([f"FAN MOD {m}{r}" for m in range(1, 6) for r in "AB"], 0x30),
        SensorSpec("System Level", 0x77, SensorKind.POWER, Entity.SYSTEM_BOARD, 1),
    ),
    fans=FanSpec(
        idle_rpm=1800.0,
        rpm_per_percent=96.0,
        ids={**{m: (2 * m, 2 * m + 1) for m in range(5)}, 5: (), 6: (), 7: ()},
        accepts_all=False,
    ),
    idle_watts=140.0,
    max_watts=400.0,
    auto_min_duty=20.0,
)

MODELS: dict[str, ModelSpec] = {m.key: m for m in (R730, R710, R510, R740, R740_334)}
