"""One device per server, described from what the BMC reports."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.const import DOMAIN
from poweredge_sim import SimulatedIdrac


async def test_device_carries_model_service_tag_and_firmware(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    identity = init_integration.runtime_data.identity
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, identity.guid), init_integration.entry_id
    )

    assert device is not None
    assert device.manufacturer == "Dell"
    assert device.model == "PowerEdge R730"
    assert device.model_id == "0x0100"
    assert device.serial_number == poweredge_sim.fru.service_tag
    assert device.sw_version == "2.86"
    assert device.name == "r730-sim"
    assert device.configuration_url == "https://127.0.0.1"
