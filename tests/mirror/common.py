"""Constants and types shared by the mirror tests and their fixtures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from custom_components.dell_fan_control.breaker import BreakerSettings
from custom_components.dell_fan_control.mqtt_payload import (
    MetricsSnapshot,
    ServerState,
    StatusSnapshot,
)

if TYPE_CHECKING:
    from pytest_homeassistant_custom_component.common import MockConfigEntry

    from custom_components.dell_fan_control.mirror import MqttMirror

HOSTNAME = "r730"
METRICS_TOPIC = f"servers/{HOSTNAME}/metrics"
STATUS_TOPIC = f"servers/{HOSTNAME}/status"
ONLINE = StatusSnapshot(state=ServerState.ONLINE, mode="curve")
# Two failures allowed, the third opens; retries after 50-100 ms so recovery tests stay short.
FAST_BREAKER = BreakerSettings(
    failure_threshold=2, min_retry_seconds=0.05, max_retry_seconds=0.1
)

type MqttEntryFactory = Callable[..., Awaitable[MockConfigEntry]]
"""``await factory(broker, **entry_data_changes)``: HA's MQTT entry, set up against broker."""
type MirrorFactory = Callable[..., Awaitable[MqttMirror]]
"""``await factory(**mirror_kwarg_changes)``: a started mirror of dell_entry."""


POLLED_AT = datetime(2026, 10, 20, 12, 0, 5, tzinfo=UTC)


def metrics_snapshot(**changes: Any) -> MetricsSnapshot:
    """A poll of a two-socket R730 in curve mode; changes replace fields."""
    values: dict[str, Any] = {
        "timestamp": POLLED_AT,
        "temperatures_c": {
            "inlet_temperature": 22.0,
            "cpu2_temperature": 51.0,
            "cpu1_temperature": 55.0,
        },
        "fan_speeds_rpm": {"fan1": 3600, "fan2": 3480},
        "power_w": 182.0,
        "fan_command_percent": 25,
        "mode": "curve",
        "control_temperature_c": 55.0,
    }
    return MetricsSnapshot(**(values | changes))
