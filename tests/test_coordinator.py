"""Faults against the simulated iDRAC: every one ends in the state docs/safety.md promises.

Each test drives polls by hand (coordinator.async_refresh) with the control law's clock
injected, so nothing depends on wall-clock timing.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pyipmi
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.dell_fan_control.const import (
    DOMAIN,
    EVENT_FAILSAFE,
    PRESET_CURVE,
    PRESET_MANUAL,
)
from custom_components.dell_fan_control.control import Reason
from custom_components.dell_fan_control.coordinator import DellFanCoordinator
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id
from tests.plugins.sim import SimFactory
from tests.test_init import AUTOMATIC, MANUAL, oem_requests

NETFN_SENSOR = 0x04


class FakeClock:
    """The control law's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def async_setup_on_clock(
    hass: HomeAssistant,
    sim: SimulatedIdrac,
    clock: FakeClock,
    options: dict[str, Any] | None = None,
) -> DellFanCoordinator:
    """Set up an entry for the simulator, its control law on the test's clock."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=sim_entry_data(sim),
        unique_id=sim_unique_id(sim),
        options=options or {},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    coordinator: DellFanCoordinator = entry.runtime_data
    coordinator.clock = clock
    return coordinator


@pytest.fixture(autouse=True)
def short_ipmi_timeout() -> Generator[None]:
    """A dead BMC fails a poll in a fraction of a second instead of seconds."""
    with patch("custom_components.dell_fan_control.coordinator.IPMI_TIMEOUT", 0.2):
        yield


@pytest.fixture
async def coordinator(init_integration: MockConfigEntry) -> DellFanCoordinator:
    coordinator: DellFanCoordinator = init_integration.runtime_data
    coordinator.clock = FakeClock()
    return coordinator


async def poll(coordinator: DellFanCoordinator, seconds: float = 15.0) -> None:
    assert isinstance(coordinator.clock, FakeClock)
    coordinator.clock.now += seconds
    await coordinator.async_refresh()


async def test_unknown_reading_hands_back_and_fires_event(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    events = async_capture_events(hass, EVENT_FAILSAFE)
    await coordinator.async_set_preset(PRESET_CURVE)
    assert poweredge_sim.mode == "manual"

    poweredge_sim.disable_sensor("Temp")  # both CPU sensors read "Disabled"
    await poll(coordinator)

    assert poweredge_sim.mode == "automatic"
    assert oem_requests(poweredge_sim)[-1] == AUTOMATIC
    assert coordinator.data.decision is not None
    assert coordinator.data.decision.reason == "unknown_reading"
    assert coordinator.data.commanded_percent is None
    assert [event.data["reason"] for event in events] == ["unknown_reading"]

    await poll(coordinator)  # still unknown: no second event, no repeated command
    assert len(events) == 1
    assert oem_requests(poweredge_sim)[-1] == AUTOMATIC

    poweredge_sim.enable_sensor("Temp")
    await poll(coordinator)
    assert poweredge_sim.mode == "manual"


async def test_critical_temperature_hands_back_until_below_hysteresis(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    await coordinator.async_set_preset(PRESET_MANUAL, 20)
    cpu = max(
        coordinator.data.readings["cpu1_temperature"],
        coordinator.data.readings["cpu2_temperature"],
    )
    # Move the critical threshold under the current temperature instead of heating the CPU.
    coordinator.controller.settings = coordinator.options.control_settings(
        fixed_percent=20
    ).__replace__(critical_temperature=cpu - 1, hysteresis=3.0)
    await poll(coordinator)
    assert poweredge_sim.mode == "automatic"
    assert coordinator.data.decision is not None
    assert coordinator.data.decision.reason == "critical_temperature"

    # 1 °C under critical is inside the hysteresis band: stay in Dell auto.
    coordinator.controller.settings = coordinator.controller.settings.__replace__(
        critical_temperature=cpu + 1
    )
    await poll(coordinator)
    assert poweredge_sim.mode == "automatic"

    coordinator.controller.settings = coordinator.controller.settings.__replace__(
        critical_temperature=cpu + 10
    )
    await poll(coordinator)
    assert poweredge_sim.mode == "manual"
    assert poweredge_sim.fan_duty == 20


async def test_unreachable_bmc_one_failure_holds_then_hands_back_on_return(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    events = async_capture_events(hass, EVENT_FAILSAFE)
    await coordinator.async_set_preset(PRESET_MANUAL, 30)
    sent = len(oem_requests(poweredge_sim))

    poweredge_sim.set_faults(drop_rate=1.0)
    await poll(coordinator)
    assert not coordinator.last_update_success
    assert len(oem_requests(poweredge_sim)) == sent  # nothing reached the BMC
    await poll(coordinator)
    await poll(coordinator)  # third failure in a row: the law says Dell auto
    assert [event.data["reason"] for event in events] == ["repeated_poll_failures"]

    poweredge_sim.set_faults(drop_rate=0.0)
    await poll(coordinator)
    # Back: the first command is computed from fresh readings (manual 30 % again).
    assert coordinator.last_update_success
    assert oem_requests(poweredge_sim)[sent:] == [MANUAL, bytes((0x02, 0xFF, 30))]


async def test_unexpected_poll_errors_count_toward_the_hand_back(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    """An error nobody classified (here from python-ipmi) is still a failed poll."""
    events = async_capture_events(hass, EVENT_FAILSAFE)
    await coordinator.async_set_preset(PRESET_MANUAL, 20)
    real_send_raw = pyipmi.Ipmi.send_raw

    def readings_break(ipmi: pyipmi.Ipmi, lun: int, netfn: int, raw: bytes) -> bytes:
        if netfn == NETFN_SENSOR:
            raise RuntimeError("decoder bug")
        return real_send_raw(ipmi, lun, netfn, raw)

    with patch.object(pyipmi.Ipmi, "send_raw", readings_break):
        for _ in range(3):
            await poll(coordinator)
            assert not coordinator.last_update_success
    assert [event.data["reason"] for event in events] == ["repeated_poll_failures"]
    assert poweredge_sim.mode == "automatic"
    assert oem_requests(poweredge_sim)[-1] == AUTOMATIC


async def test_bmc_restart_reconnects_and_reasserts(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    await coordinator.async_set_preset(PRESET_MANUAL, 35)
    generation = coordinator.client.session_generation
    poweredge_sim.restart_bmc()  # sessions gone, fans back in automatic
    assert poweredge_sim.mode == "automatic"

    await poll(coordinator)  # the old session is dead: this poll fails
    await poll(coordinator)  # a new session, and the % is written again
    assert coordinator.client.session_generation > generation
    assert poweredge_sim.mode == "manual"
    assert poweredge_sim.fan_duty == 35
    assert len(poweredge_sim.open_sessions) == 1


async def test_silent_revert_to_automatic_is_undone_next_poll(
    hass: HomeAssistant, poweredge_sim_factory: SimFactory
) -> None:
    clock = FakeClock()
    sim = poweredge_sim_factory("r730", clock=clock, revert_manual_after=60.0)
    coordinator = await async_setup_on_clock(hass, sim, clock)
    await coordinator.async_set_preset(PRESET_MANUAL, 25)

    clock.now += 61  # the firmware quietly takes the fans back
    assert sim.mode == "automatic"
    await poll(coordinator, 0)
    assert sim.mode == "manual"
    assert oem_requests(sim)[-1] == MANUAL
    assert await hass.config_entries.async_unload(coordinator.config_entry.entry_id)


async def test_not_permitted_mid_operation_goes_monitor_only(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    coordinator: DellFanCoordinator,
    issue_registry: ir.IssueRegistry,
) -> None:
    await coordinator.async_set_preset(PRESET_MANUAL, 30)
    poweredge_sim.override_completion_code(0x30, 0x30, 0xD4)  # e.g. a firmware update
    sent = len(oem_requests(poweredge_sim))
    await poll(coordinator)
    assert coordinator.monitor_only
    assert issue_registry.async_get_issue(
        DOMAIN, f"fan_control_{coordinator.config_entry.entry_id}"
    )
    # The refused re-assertion, then one try at Dell auto (refused too, here).
    assert oem_requests(poweredge_sim)[sent:] == [MANUAL, AUTOMATIC]
    sent = len(poweredge_sim.oem_log)
    await poll(coordinator)
    assert len(poweredge_sim.oem_log) == sent  # nothing more is sent
    with pytest.raises(HomeAssistantError):
        await coordinator.async_set_pcie_cooling_response(False)
    assert len(poweredge_sim.oem_log) == sent


async def test_password_change_starts_reauth(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    coordinator.client.close()  # the next poll opens a new session with the old password
    poweredge_sim._users["root"] = "changed"
    await poll(coordinator)
    await hass.async_block_till_done()
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_fans_that_ignore_commands_end_in_dell_auto(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The iDRAC keeps taking the fans back: rewrite once, then give up to Dell auto."""
    clock = FakeClock()
    sim = poweredge_sim_factory("r730", clock=clock)
    coordinator = await async_setup_on_clock(hass, sim, clock)
    events = async_capture_events(hass, EVENT_FAILSAFE)
    await coordinator.async_set_preset(PRESET_MANUAL, 80)
    for _ in range(6):  # settle: the RPM at 80 % becomes the baseline
        await poll(coordinator, 15)
    assert events == []

    # From now on the iDRAC takes the fans back 5 s after every command (e.g. after a
    # firmware update), so every poll reads its automatic RPM, far below 80 %.
    sim._machine.revert_manual_after = 5.0
    for _ in range(20):
        await poll(coordinator, 15)
        if coordinator.preset != PRESET_MANUAL:
            break

    assert coordinator.preset == "auto"
    assert sim.mode == "automatic"
    assert [event.data["reason"] for event in events] == ["fans_ignore_commands"]
    issue_id = f"fans_ignore_commands_{coordinator.config_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id)
    # The command was written a second time before giving up.
    assert oem_requests(sim).count(bytes((0x02, 0xFF, 80))) == 2

    await coordinator.async_set_preset(PRESET_MANUAL, 80)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(coordinator.config_entry.entry_id)


@pytest.mark.parametrize(
    "entry_options", [{"extra_sources": ["sensor.gpu_temperature"]}]
)
async def test_home_assistant_sensor_as_control_source(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, coordinator: DellFanCoordinator
) -> None:
    """A hot GPU drives the curve; in °F it is converted; unavailable counts as hot."""
    hass.states.async_set("sensor.gpu_temperature", "80", {"unit_of_measurement": "°C"})
    await coordinator.async_set_preset(PRESET_CURVE)
    assert coordinator.data.control_temperature == 80
    assert poweredge_sim.fan_duty == coordinator.controller.settings.target_percent(80)

    hass.states.async_set(
        "sensor.gpu_temperature", "176", {"unit_of_measurement": "°F"}
    )
    await poll(coordinator)
    assert coordinator.data.control_temperature == pytest.approx(80)

    hass.states.async_set("sensor.gpu_temperature", "unavailable")
    await poll(coordinator)
    assert poweredge_sim.mode == "automatic"
    assert coordinator.data.decision is not None
    assert coordinator.data.decision.unknown_sources == ("sensor.gpu_temperature",)

    hass.states.async_set(
        "sensor.gpu_temperature", "20", {"unit_of_measurement": "kWh"}
    )
    await poll(coordinator)
    assert poweredge_sim.mode == "automatic"  # not a temperature: unusable, so hot
    hass.states.async_remove("sensor.gpu_temperature")
    await poll(coordinator)
    assert poweredge_sim.mode == "automatic"


async def test_no_cpu_temperature_keeps_dell_auto_and_raises_a_repair(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """iDRAC 6 reads no CPU temperature: no stand-in from air temperatures.

    The R710's only other temperatures are inlet and planar air, which a CPU curve
    would answer with the floor whatever the CPUs do.
    """
    sim = poweredge_sim_factory("r710")
    sim.set_load(1.0)
    coordinator = await async_setup_on_clock(hass, sim, FakeClock())
    issue_id = f"no_cpu_temperature_{coordinator.config_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id)
    assert coordinator.control_source_keys == ()

    for preset, percent in ((PRESET_CURVE, None), (PRESET_MANUAL, 40)):
        await coordinator.async_set_preset(preset, percent)
        await poll(coordinator)
        assert coordinator.data.decision is not None
        assert coordinator.data.decision.reason is Reason.NO_SOURCES
    assert MANUAL not in oem_requests(sim)
    assert sim.mode == "automatic"

    # Choosing a source (the options flow saves, then reloads the entry) clears it.
    entry = coordinator.config_entry
    hass.states.async_set(
        "sensor.host_cpu_temperature", "50.0", {"unit_of_measurement": "°C"}
    )
    hass.config_entries.async_update_entry(
        entry, options={"extra_sources": ["sensor.host_cpu_temperature"]}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    assert not issue_registry.async_get_issue(DOMAIN, issue_id)
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize(
    ("options", "raised"),
    [
        pytest.param({"sources": ["inlet_temperature"]}, False, id="a chosen sensor"),
        pytest.param({"monitor_only": True}, False, id="monitor-only"),
        pytest.param({"sources": ["gone_temperature"]}, True, id="chosen sensor gone"),
    ],
)
async def test_no_cpu_temperature_repair_only_while_nothing_is_chosen(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    issue_registry: ir.IssueRegistry,
    options: dict[str, Any],
    raised: bool,
) -> None:
    sim = poweredge_sim_factory("r710")
    coordinator = await async_setup_on_clock(hass, sim, FakeClock(), options)
    issue_id = f"no_cpu_temperature_{coordinator.config_entry.entry_id}"
    assert (issue_registry.async_get_issue(DOMAIN, issue_id) is not None) is raised
    assert await hass.config_entries.async_unload(coordinator.config_entry.entry_id)


async def test_a_chosen_source_controls_a_server_without_cpu_temperature(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The host's own CPU temperature from another integration drives the curve."""
    hass.states.async_set(
        "sensor.host_cpu_temperature", "66.0", {"unit_of_measurement": "°C"}
    )
    sim = poweredge_sim_factory("r710")
    coordinator = await async_setup_on_clock(
        hass,
        sim,
        FakeClock(),
        options={"extra_sources": ["sensor.host_cpu_temperature"]},
    )
    assert not issue_registry.async_get_issue(
        DOMAIN, f"no_cpu_temperature_{coordinator.config_entry.entry_id}"
    )
    await coordinator.async_set_preset(PRESET_CURVE)
    assert coordinator.data.decision is not None
    assert coordinator.data.decision.control_temperature == 66.0
    assert sim.mode == "manual"
    assert sim.fan_duty == coordinator.controller.settings.target_percent(66.0)
    assert await hass.config_entries.async_unload(coordinator.config_entry.entry_id)
