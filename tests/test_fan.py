"""The fan entity drives the simulated iDRAC: the OEM log shows the exact commands."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.components.fan import (
    ATTR_PERCENTAGE,
    ATTR_PRESET_MODE,
    DOMAIN as FAN_DOMAIN,
    SERVICE_SET_PERCENTAGE,
    SERVICE_SET_PRESET_MODE,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_ON
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.dell_fan_control.const import DOMAIN
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id
from tests.plugins.sim import SimFactory
from tests.test_init import AUTOMATIC, MANUAL, oem_requests

FAN = "fan.r730_sim"


def set_all(percent: int) -> bytes:
    return bytes((0x02, 0xFF, percent))


async def _call(hass: HomeAssistant, service: str, **data: object) -> None:
    await hass.services.async_call(
        FAN_DOMAIN, service, {ATTR_ENTITY_ID: FAN, **data}, blocking=True
    )


@pytest.mark.usefixtures("init_integration")
async def test_starts_in_dell_auto(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    state = hass.states.get(FAN)
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes[ATTR_PRESET_MODE] == "auto"
    assert state.attributes[ATTR_PERCENTAGE] is None
    assert poweredge_sim.mode == "automatic"


@pytest.mark.usefixtures("init_integration")
async def test_percentage_then_auto(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    await _call(hass, SERVICE_SET_PERCENTAGE, percentage=32)

    assert oem_requests(poweredge_sim) == [AUTOMATIC, MANUAL, set_all(32)]
    assert poweredge_sim.mode == "manual"
    assert poweredge_sim.fan_duty == 32
    state = hass.states.get(FAN)
    assert state is not None
    assert state.attributes[ATTR_PRESET_MODE] == "manual"
    assert state.attributes[ATTR_PERCENTAGE] == 32

    await _call(hass, SERVICE_SET_PRESET_MODE, preset_mode="auto")

    assert oem_requests(poweredge_sim)[-1] == AUTOMATIC
    assert poweredge_sim.mode == "automatic"
    state = hass.states.get(FAN)
    assert state is not None
    assert state.attributes[ATTR_PERCENTAGE] is None


@pytest.mark.usefixtures("init_integration")
async def test_floor_applies_to_manual(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    await _call(hass, SERVICE_SET_PERCENTAGE, percentage=2)
    assert poweredge_sim.fan_duty == 5  # the default floor


@pytest.mark.usefixtures("init_integration")
async def test_curve_preset_follows_cpu_temperature(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    await _call(hass, SERVICE_SET_PRESET_MODE, preset_mode="curve")

    assert poweredge_sim.mode == "manual"
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    decision = coordinator.data.decision
    assert decision is not None
    assert decision.control_temperature == max(
        coordinator.data.readings["cpu1_temperature"],
        coordinator.data.readings["cpu2_temperature"],
    )
    expected = coordinator.controller.settings.target_percent(
        decision.control_temperature
    )
    assert poweredge_sim.fan_duty == expected
    assert oem_requests(poweredge_sim)[-2:] == [MANUAL, set_all(expected)]


@pytest.mark.usefixtures("init_integration")
async def test_manual_is_reasserted_every_poll_but_percent_written_once(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    await _call(hass, SERVICE_SET_PERCENTAGE, percentage=40)
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    await coordinator.async_refresh()
    await coordinator.async_refresh()
    assert oem_requests(poweredge_sim) == [
        AUTOMATIC,
        MANUAL,
        set_all(40),
        MANUAL,
        MANUAL,
    ]


async def test_restores_preset_after_restart(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_restore_cache(
        hass,
        [State(FAN, STATE_ON, {ATTR_PRESET_MODE: "manual", ATTR_PERCENTAGE: 45})],
    )
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # Restored, and applied from a fresh read in the refresh that follows setup.
    assert poweredge_sim.fan_duty == 45
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


@pytest.mark.parametrize("entry_options", [{"monitor_only": True}])
async def test_monitor_only_never_sends_fan_commands(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    assert hass.states.get(FAN) is None
    coordinator = init_integration.runtime_data
    await coordinator.async_refresh()
    with pytest.raises(HomeAssistantError):
        await coordinator.async_set_preset("manual", 50)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert poweredge_sim.oem_log == []


async def test_firmware_that_refuses_fan_control(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    sim = poweredge_sim_factory("r740-3.34")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="r740",
        data=sim_entry_data(sim),
        unique_id=sim_unique_id(sim),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert hass.states.get("fan.r740") is None
    assert hass.states.get("sensor.r740_cpu_1_temperature") is not None
    issue = issue_registry.async_get_issue(DOMAIN, f"fan_control_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "fan_control_not_permitted"
    # Only the probe: one "automatic", refused with 0xD4.
    assert [(e.data, e.completion_code) for e in sim.oem_log] == [(AUTOMATIC, 0xD4)]
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert len(sim.oem_log) == 1


@pytest.mark.parametrize("platform", ["fan", "switch"])
async def test_entity_snapshots(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: str,
) -> None:
    sim = poweredge_sim_factory("r730", seed=7, clock=lambda: 0.0)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=sim.system_name,
        data=sim_entry_data(sim),
        unique_id="guid-r730",  # the simulator's GUID is random per instance
        entry_id="entry_r730",
    )
    entry.add_to_hass(hass)
    with patch("custom_components.dell_fan_control.PLATFORMS", [platform]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
        assert await hass.config_entries.async_unload(entry.entry_id)
