"""The server's fans as one fan entity: Dell auto, our curve, or a fixed percentage."""

from __future__ import annotations

from typing import override

from homeassistant.components.fan import FanEntity
from homeassistant.components.fan.const import (
    ATTR_PERCENTAGE,
    ATTR_PRESET_MODE,
    FanEntityFeature,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .const import PRESET_AUTO, PRESET_CURVE, PRESET_MANUAL
from .coordinator import DellFanConfigEntry
from .entity import DellFanEntity

# One BMC session: fan commands queue behind each other and behind the poll.
PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DellFanConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """No fan entity when the firmware refuses fan commands or the user chose monitor-only."""
    coordinator = entry.runtime_data
    if not coordinator.monitor_only:
        async_add_entities([ServerFanEntity(coordinator, "fans")])


class ServerFanEntity(DellFanEntity, FanEntity, RestoreEntity):
    """All of the chassis fans; the percentage is what we command, None in Dell auto."""

    _attr_name = None
    _attr_translation_key = "fans"
    _attr_supported_features = FanEntityFeature.SET_SPEED | FanEntityFeature.PRESET_MODE
    _attr_preset_modes = [PRESET_AUTO, PRESET_CURVE, PRESET_MANUAL]

    async def async_added_to_hass(self) -> None:
        """Come back in the preset the user left; the control law still waits for a good read."""
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            preset = last.attributes.get(ATTR_PRESET_MODE)
            percentage = last.attributes.get(ATTR_PERCENTAGE)
            self.coordinator.restore_preset(
                preset if isinstance(preset, str) else PRESET_AUTO,
                percentage
                if isinstance(percentage, int) and preset == PRESET_MANUAL
                else None,
            )

    @property
    @override
    def is_on(self) -> bool:
        """Server fans never stop; "off" would be a lie in Dell auto."""
        return True

    @property
    @override
    def percentage(self) -> int | None:
        return self.coordinator.data.commanded_percent

    @property
    @override
    def preset_mode(self) -> str:
        return self.coordinator.preset

    @override
    async def async_set_percentage(self, percentage: int) -> None:
        """A percentage means the manual preset at that speed."""
        await self.coordinator.async_set_preset(PRESET_MANUAL, percentage)

    @override
    async def async_set_preset_mode(self, preset_mode: str) -> None:
        await self.coordinator.async_set_preset(preset_mode)
