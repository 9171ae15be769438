"""Protocol layer: Dell iDRAC over IPMI-LAN (RMCP+), no Home Assistant imports."""

from .client import IdracClient
from .models import (
    DEFAULT_PORT,
    DELL_MANUFACTURER_ID,
    ConnectionSettings,
    DeviceIdentity,
    FanControlCapability,
    IdracAuthError,
    IdracConnectionError,
    IdracError,
    IdracNotPermittedError,
    IdracProtocolError,
    IdracUnsupportedError,
    SensorInfo,
    SensorKind,
    SensorSample,
    SensorStatus,
)

__all__ = [
    "DEFAULT_PORT",
    "DELL_MANUFACTURER_ID",
    "ConnectionSettings",
    "DeviceIdentity",
    "FanControlCapability",
    "IdracAuthError",
    "IdracClient",
    "IdracConnectionError",
    "IdracError",
    "IdracNotPermittedError",
    "IdracProtocolError",
    "IdracUnsupportedError",
    "SensorInfo",
    "SensorKind",
    "SensorSample",
    "SensorStatus",
]
