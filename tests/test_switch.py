"""The third-party PCIe cooling response switch, against the simulator."""

from __future__ import annotations

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.const import DOMAIN
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id

SWITCH = "switch.r730_sim_third_party_pcie_cooling_response"
DISABLE = bytes((0x00, 0x16, 0x05, 0x00, 0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00))


async def _call(hass: HomeAssistant, service: str) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )


@pytest.mark.usefixtures("init_integration")
async def test_turn_off_and_on(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    assert hass.states.get(SWITCH).state == STATE_ON  # Dell's default
    await _call(hass, SERVICE_TURN_OFF)
    assert poweredge_sim.pcie_cooling_response is False
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert [e.data for e in poweredge_sim.oem_log if e.command == 0xCE][-1] == DISABLE
    await _call(hass, SERVICE_TURN_ON)
    assert poweredge_sim.pcie_cooling_response is True


@pytest.mark.usefixtures("init_integration")
async def test_refused_command_raises(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    poweredge_sim.override_completion_code(0x30, 0xCE, 0xD4)
    with pytest.raises(HomeAssistantError):
        await _call(hass, SERVICE_TURN_OFF)
    assert poweredge_sim.pcie_cooling_response is True
    assert hass.states.get(SWITCH).state == STATE_ON


async def test_no_switch_where_the_command_is_unknown(
    hass: HomeAssistant, poweredge_sim_factory
) -> None:
    sim = poweredge_sim_factory("r740")  # iDRAC 9 answers 0xCE with 0xC1
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="r740",
        data=sim_entry_data(sim),
        unique_id=sim_unique_id(sim),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert hass.states.get("switch.r740_third_party_pcie_cooling_response") is None
    assert hass.states.get("fan.r740") is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
