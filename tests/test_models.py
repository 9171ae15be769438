"""Every simulated model at every cipher suite, through the integration, over real UDP."""

from __future__ import annotations

from homeassistant.components.fan import (
    DOMAIN as FAN_DOMAIN,
    SERVICE_SET_PERCENTAGE,
    SERVICE_SET_PRESET_MODE,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.const import DOMAIN
from tests.conftest import sim_entry_data, sim_unique_id
from tests.plugins.sim import SimFactory
from tests.test_init import AUTOMATIC, MANUAL, oem_requests

HOST_CPU = "sensor.host_cpu_temperature"


@pytest.mark.parametrize("cipher_suite", ["auto", "17", "3"])
@pytest.mark.parametrize(
    ("model", "set_40_percent"),
    [
        ("r730", [bytes((0x02, 0xFF, 40))]),
        ("r710", [bytes((0x02, 0xFF, 40))]),
        ("r740", [bytes((0x02, 0xFF, 40))]),
        # Refuses 0xFF: the client tries ids from 0 until one is refused (8), once.
        (
            "r510",
            [bytes((0x02, 0xFF, 40)), *(bytes((0x02, fan, 40)) for fan in range(9))],
        ),
    ],
)
async def test_model_setup_fan_and_unload(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    model: str,
    cipher_suite: str,
    set_40_percent: list[bytes],
) -> None:
    sim = poweredge_sim_factory(model)
    # The R710 and R510 read no CPU temperature over IPMI: the host's, from another
    # integration, is the source for every model here (see test_coordinator.py).
    hass.states.async_set(HOST_CPU, "45.0", {"unit_of_measurement": "°C"})
    entry = MockConfigEntry(
        domain=DOMAIN, title="server", data=sim_entry_data(sim, cipher_suite=cipher_suite),
        unique_id=sim_unique_id(sim), options={"extra_sources": [HOST_CPU]},
    )  # fmt: skip
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    expected_suite = 17 if cipher_suite == "auto" else int(cipher_suite)
    assert hass.states.get("sensor.server_cipher_suite").state == str(expected_suite)
    assert float(hass.states.get("sensor.server_power_consumption").state) > 0

    await hass.services.async_call(
        FAN_DOMAIN,
        SERVICE_SET_PERCENTAGE,
        {ATTR_ENTITY_ID: "fan.server", "percentage": 40},
        blocking=True,
    )
    await hass.services.async_call(
        FAN_DOMAIN,
        SERVICE_SET_PRESET_MODE,
        {ATTR_ENTITY_ID: "fan.server", "preset_mode": "auto"},
        blocking=True,
    )
    assert oem_requests(sim) == [AUTOMATIC, MANUAL, *set_40_percent, AUTOMATIC]

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert sim.open_sessions == []
    assert sim.mode == "automatic"


@pytest.mark.parametrize("cipher_suite", ["auto", "17", "3"])
async def test_firmware_refusing_fan_control_at_every_suite(
    hass: HomeAssistant, poweredge_sim_factory: SimFactory, cipher_suite: str
) -> None:
    sim = poweredge_sim_factory("r740-3.34")
    entry = MockConfigEntry(
        domain=DOMAIN, title="server", data=sim_entry_data(sim, cipher_suite=cipher_suite),
        unique_id=sim_unique_id(sim),
    )  # fmt: skip
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert hass.states.get("fan.server") is None
    assert hass.states.get("sensor.server_cpu_1_temperature") is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert sim.open_sessions == []
    assert [entry.data for entry in sim.oem_log] == [AUTOMATIC]
