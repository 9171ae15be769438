"""Setup, unload and HA stop against the simulated iDRAC: the fans always end in Dell auto."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.const import DOMAIN, PRESET_MANUAL
from custom_components.dell_fan_control.idrac import ConnectionSettings, IdracClient
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id
from tests.plugins.sim import SimFactory

MANUAL = bytes((0x01, 0x00))
AUTOMATIC = bytes((0x01, 0x01))


def oem_requests(sim: SimulatedIdrac) -> list[bytes]:
    """The Dell fan commands (netfn 0x30, cmd 0x30) the simulator received, in order."""
    return [entry.data for entry in sim.oem_log if entry.command == 0x30]


async def test_setup_and_unload(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert len(poweredge_sim.open_sessions) == 1
    # The capability probe is the only fan command at setup: "automatic", harmless.
    assert oem_requests(poweredge_sim) == [AUTOMATIC]

    coordinator = mock_config_entry.runtime_data
    await coordinator.async_set_preset(PRESET_MANUAL, 40)
    assert poweredge_sim.mode == "manual"

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert poweredge_sim.mode == "automatic"
    assert oem_requests(poweredge_sim)[-1] == AUTOMATIC
    assert poweredge_sim.open_sessions == []


async def test_wrong_password_starts_reauth(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=sim_entry_data(poweredge_sim, password="wrong"),
        unique_id=sim_unique_id(poweredge_sim),
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert poweredge_sim.open_sessions == []


async def test_unreachable_bmc_retries_setup_without_leaking(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mock_config_entry: MockConfigEntry,
) -> None:
    poweredge_sim.set_faults(drop_rate=1.0)
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert poweredge_sim.open_sessions == []
    assert oem_requests(poweredge_sim) == []


async def test_stop_hands_back_to_dell_auto(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
) -> None:
    await init_integration.runtime_data.async_set_preset(PRESET_MANUAL, 30)
    assert poweredge_sim.mode == "manual"

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    assert poweredge_sim.mode == "automatic"
    assert poweredge_sim.open_sessions == []


@pytest.mark.parametrize("entry_options", [{"hand_back_on_stop": False}])
async def test_leave_as_is_on_unload_when_asked(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await mock_config_entry.runtime_data.async_set_preset(PRESET_MANUAL, 30)

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    assert poweredge_sim.mode == "manual"
    assert poweredge_sim.open_sessions == []


async def test_reload_hands_back_then_resumes_from_fresh_readings(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
) -> None:
    """Saving options reloads the entry: Dell auto in between, one session after."""
    await init_integration.runtime_data.async_set_preset(PRESET_MANUAL, 40)
    sent = len(oem_requests(poweredge_sim))

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()

    # Unload hands back; setup probes with "automatic"; the restored preset resumes.
    assert oem_requests(poweredge_sim)[sent:] == [
        AUTOMATIC,
        AUTOMATIC,
        MANUAL,
        bytes((0x02, 0xFF, 40)),
    ]
    assert len(poweredge_sim.open_sessions) == 1


@pytest.mark.parametrize("entry_options", [{"hand_back_on_stop": False}])
async def test_reload_into_monitor_only_hands_back_even_when_leaving_as_is(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
) -> None:
    """Monitor-only never sends a fan command, so nothing else would give them back."""
    await init_integration.runtime_data.async_set_preset(PRESET_MANUAL, 30)
    hass.config_entries.async_update_entry(
        init_integration, options={**init_integration.options, "monitor_only": True}
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()

    assert poweredge_sim.mode == "automatic"
    sent = len(poweredge_sim.oem_log)
    await init_integration.runtime_data.async_refresh()
    assert len(poweredge_sim.oem_log) == sent  # monitor-only from here on


async def test_setup_after_a_crash_hands_back_first(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mock_config_entry: MockConfigEntry,
) -> None:
    """HA died with the fans in manual (no clean stop): the next start gives them back."""
    with IdracClient(
        ConnectionSettings(
            host="127.0.0.1",
            port=poweredge_sim.port,
            username="root",
            password="calvin",
        )
    ) as client:
        client.set_fan_mode_manual()
        client.set_fan_percent(10)
    assert poweredge_sim.mode == "manual"

    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert poweredge_sim.mode == "automatic"
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_removing_the_entry_removes_its_repair_issues(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    sim = poweredge_sim_factory("r710")  # reads no CPU temperature: a repair issue
    entry = MockConfigEntry(
        domain=DOMAIN, data=sim_entry_data(sim), unique_id=sim_unique_id(sim)
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    issue_id = f"no_cpu_temperature_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id)

    await hass.config_entries.async_remove(entry.entry_id)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert sim.mode == "automatic"
