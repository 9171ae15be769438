"""Diagnostics: what the BMC said, what we decided, with secrets and identifiers redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .coordinator import DellFanConfigEntry

TO_REDACT = {
    CONF_HOST,
    CONF_PASSWORD,
    CONF_USERNAME,
    "guid",
    "unique_id",
    "system_name",
    "title",
    "hostname",
    "service_tag",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: DellFanConfigEntry
) -> dict[str, Any]:
    """Everything needed to tell a firmware quirk from a bug, without the keys to the BMC."""
    coordinator = entry.runtime_data
    data = coordinator.data
    return async_redact_data(
        {
            "entry": entry.as_dict(),
            "identity": asdict(coordinator.identity),
            "cipher_suite": coordinator.client.cipher_suite,
            "per_fan_ids": coordinator.client.per_fan_ids,
            "fan_control_capability": coordinator.capability,
            "monitor_only": coordinator.monitor_only,
            "pcie_cooling_response": coordinator.pcie_cooling_response,
            "sensors": [asdict(info) for info in coordinator.sensors.values()],
            "control_sources": coordinator.control_source_keys,
            "preset": coordinator.preset,
            "last_poll": None
            if data is None
            else {
                "readings": dict(data.readings),
                "powered_on": data.powered_on,
                "commanded_percent": data.commanded_percent,
                "control_temperature": data.control_temperature,
                "target_percent": data.target_percent,
                "decision": None if data.decision is None else asdict(data.decision),
                "poll_seconds": data.poll_seconds,
            },
            "last_update_success": coordinator.last_update_success,
            "mqtt_mirror": None
            if coordinator.mirror is None
            else coordinator.mirror.diagnostics(),
        },
        TO_REDACT,
    )
