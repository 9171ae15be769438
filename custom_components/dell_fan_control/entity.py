"""Base entity: one device per BMC, named by the config entry."""

from __future__ import annotations

from homeassistant.const import CONF_HOST
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import DellFanCoordinator


class DellFanEntity(CoordinatorEntity[DellFanCoordinator]):
    """Shared device info and unique ids built from the BMC's GUID."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: DellFanCoordinator, key: str) -> None:
        super().__init__(coordinator)
        entry = coordinator.config_entry
        identity = coordinator.identity
        self._attr_unique_id = f"{entry.unique_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, identity.guid)},
            manufacturer="Dell",
            model=identity.product_name or "PowerEdge",
            model_id=f"0x{identity.product_id:04x}",
            serial_number=identity.service_tag,
            name=entry.title,
            sw_version=identity.firmware,
            configuration_url=f"https://{entry.data[CONF_HOST]}",
        )
