"""Dell's extra cooling for third-party PCIe cards (iDRAC 8 and older answer this command)."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import DellFanConfigEntry
from .entity import DellFanEntity

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DellFanConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Only where the BMC answered the read at setup."""
    coordinator = entry.runtime_data
    if coordinator.pcie_cooling_response is not None:
        async_add_entities(
            [PcieCoolingResponseSwitch(coordinator, "pcie_cooling_response")]
        )


class PcieCoolingResponseSwitch(DellFanEntity, SwitchEntity):
    """Off stops the iDRAC from running the fans hard for a non-Dell PCIe card."""

    _attr_translation_key = "pcie_cooling_response"
    _attr_entity_category = EntityCategory.CONFIG

    @property
    @override
    def is_on(self) -> bool | None:
        return self.coordinator.pcie_cooling_response

    @override
    async def async_turn_on(self, **kwargs: Any) -> None:
        await self.coordinator.async_set_pcie_cooling_response(True)

    @override
    async def async_turn_off(self, **kwargs: Any) -> None:
        await self.coordinator.async_set_pcie_cooling_response(False)
