"""Typed values the iDRAC client hands to the rest of the integration."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DELL_MANUFACTURER_ID = 674
DEFAULT_PORT = 623


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionSettings:
    """How to reach one BMC. cipher_suite None means auto (17, then 3)."""

    host: str
    port: int = DEFAULT_PORT
    username: str
    password: str
    cipher_suite: int | None = None
    timeout: float = 2.0
    retries: int = 1


class SensorKind(StrEnum):
    """What a sensor measures, as the integration cares about it."""

    CPU_TEMPERATURE = "cpu_temperature"
    INLET_TEMPERATURE = "inlet_temperature"
    EXHAUST_TEMPERATURE = "exhaust_temperature"
    OTHER_TEMPERATURE = "other_temperature"
    FAN = "fan"
    POWER = "power"


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorInfo:
    """One SDR full-sensor record we can read. key is stable across polls and restarts."""

    key: str
    name: str
    kind: SensorKind
    number: int
    entity_id: int
    entity_instance: int
    unit: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceIdentity:
    """Who the BMC says it is."""

    manufacturer_id: int
    product_id: int
    firmware: str
    guid: str
    system_name: str | None
    product_name: str | None = None
    """FRU 0 product name, e.g. "PowerEdge R730"; None when the BMC has no FRU data."""
    service_tag: str | None = None
    """FRU 0 product serial number: the Service Tag on Dell servers."""

    @property
    def is_dell(self) -> bool:
        """Dell's IANA enterprise number."""
        return self.manufacturer_id == DELL_MANUFACTURER_ID


class SensorStatus(StrEnum):
    """Threshold state of a reading, the status column of `ipmitool sdr`."""

    OK = "ok"
    NON_CRITICAL = "non_critical"
    CRITICAL = "critical"
    NON_RECOVERABLE = "non_recoverable"
    NO_READING = "no_reading"


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorSample:
    """One reading: value None when the BMC has none (disabled, not scanned, absent)."""

    value: float | None
    status: SensorStatus


class FanControlCapability(StrEnum):
    """What the firmware lets us do with Dell's OEM fan commands."""

    SUPPORTED = "supported"
    NOT_PERMITTED = "not_permitted"  # 0xD4: iDRAC9 >= 3.34, Gen 15+
    UNSUPPORTED = "unsupported"  # 0xC1: blades, sleds


class IdracError(Exception):
    """Base class of everything the client raises."""


class IdracAuthError(IdracError):
    """Unknown user or wrong password (RAKP status 0x0D / 0x0F)."""


class IdracConnectionError(IdracError):
    """No answer in time: unreachable, BMC restarting, session lost."""


class IdracProtocolError(IdracError):
    """An answer we could not use: bad completion code, garbage, wrong length."""


class IdracNotPermittedError(IdracProtocolError):
    """Completion code 0xD4: the firmware refuses this command (fan control on iDRAC9 >= 3.34)."""


class IdracUnsupportedError(IdracProtocolError):
    """Completion code 0xC1: the BMC does not know this command."""
