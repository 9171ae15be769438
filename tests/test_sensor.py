"""Sensor entities for each simulated model, as snapshots, plus availability rules."""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.dell_fan_control.const import DOMAIN
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data
from tests.plugins.sim import SimFactory


@pytest.fixture(autouse=True)
def only_sensors() -> Generator[None]:
    with patch("custom_components.dell_fan_control.PLATFORMS", ["sensor"]):
        yield


@pytest.fixture
def poweredge_sim(poweredge_sim_factory: SimFactory) -> SimulatedIdrac:
    """A frozen clock and a seed make every reading repeatable."""
    return poweredge_sim_factory("r730", seed=7, clock=lambda: 0.0)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("model", ["r730", "r710", "r510", "r740", "r740-3.34"])
async def test_sensor_entities(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
    model: str,
) -> None:
    """freezer stops the clock, so the poll duration is repeatable too."""
    sim = poweredge_sim_factory(model, seed=7, clock=lambda: 0.0)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=sim.system_name,
        data=sim_entry_data(sim, cipher_suite="3"),
        unique_id=f"guid-{model}",  # the simulator's GUID is random per instance
        entry_id=f"entry_{model}",
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_psu_and_other_temperatures_disabled_by_default(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    entity = entity_registry.async_get("sensor.r730_sim_psu1_inlet_temp")
    assert entity is not None
    assert entity.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get("sensor.r730_sim_inlet_temperature") is not None


async def test_disabled_entities_are_not_polled(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
) -> None:
    coordinator = init_integration.runtime_data
    before = poweredge_sim.counters.packets_in
    await coordinator.async_refresh()
    enabled_bmc_sensors = [
        state
        for state in hass.states.async_all("sensor")
        if state.entity_id.split(".")[1].removeprefix("r730_sim_")
        in {
            "cpu_1_temperature",
            "cpu_2_temperature",
            "inlet_temperature",
            "exhaust_temperature",
            "power_consumption",
        }
        or ("_speed" in state.entity_id and "target" not in state.entity_id)
    ]
    # One request per enabled BMC sensor, then the fan-mode commands of the auto preset: none.
    assert poweredge_sim.counters.packets_in - before == len(enabled_bmc_sensors)


async def test_powered_off_server_makes_bmc_sensors_unavailable(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
) -> None:
    poweredge_sim.set_power(False)
    await init_integration.runtime_data.async_refresh()
    assert (
        hass.states.get("sensor.r730_sim_cpu_1_temperature").state == STATE_UNAVAILABLE
    )
    assert hass.states.get("sensor.r730_sim_idrac_firmware").state == "2.86"
    poweredge_sim.set_power(True)
    await init_integration.runtime_data.async_refresh()
    assert hass.states.get("sensor.r730_sim_cpu_1_temperature").state not in (
        STATE_UNAVAILABLE,
        STATE_UNKNOWN,
    )
