"""Config flow against the simulated iDRAC over real UDP."""

from __future__ import annotations

from collections.abc import Generator
import socket
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.const import (
    CONF_CIPHER_SUITE,
    DOMAIN,
    SECTION_ADVANCED,
)
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id
from tests.plugins.sim import SimFactory


@pytest.fixture(autouse=True)
def no_entry_setup() -> Generator[None]:
    """Flow tests stop at the entry; setting it up is tested in test_init."""
    with patch(
        "custom_components.dell_fan_control.async_setup_entry", return_value=True
    ):
        yield


def _user_input(sim: SimulatedIdrac, **overrides: Any) -> dict[str, Any]:
    data = sim_entry_data(sim, **overrides)
    return {
        CONF_HOST: data[CONF_HOST],
        CONF_PORT: data[CONF_PORT],
        CONF_USERNAME: data[CONF_USERNAME],
        CONF_PASSWORD: data[CONF_PASSWORD],
        SECTION_ADVANCED: {CONF_CIPHER_SUITE: data[CONF_CIPHER_SUITE]},
    }


def _closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("cipher_suite", ["auto", "17", "3"])
async def test_user_flow_creates_entry(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, cipher_suite: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(poweredge_sim, cipher_suite=cipher_suite)
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "r730-sim"
    assert result["data"] == sim_entry_data(poweredge_sim, cipher_suite=cipher_suite)
    assert result["result"].unique_id == sim_unique_id(poweredge_sim)
    # The connection test leaves no session behind on the BMC.
    assert poweredge_sim.open_sessions == []


async def test_title_falls_back_to_host_without_system_name(
    hass: HomeAssistant, poweredge_sim_factory: SimFactory
) -> None:
    sim = poweredge_sim_factory("r710", system_name="")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}, data=None
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(sim)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({CONF_PASSWORD: "wrong"}, "invalid_auth"),
        ({CONF_USERNAME: "nobody"}, "invalid_auth"),
        ({CONF_PORT: None}, "cannot_connect"),
    ],
)
async def test_user_flow_errors_then_recovers(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    overrides: dict[str, Any],
    error: str,
) -> None:
    if CONF_PORT in overrides:
        overrides = {CONF_PORT: _closed_udp_port()}
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(poweredge_sim, **overrides)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(poweredge_sim)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_unexpected_error(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    # Injects a failure the client does not know; the flow must still answer.
    with patch(
        "custom_components.dell_fan_control.config_flow.IdracClient.identity",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], _user_input(poweredge_sim)
        )
    assert result["errors"] == {"base": "unknown"}
    assert poweredge_sim.open_sessions == []

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(poweredge_sim)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_aborts_for_other_vendors(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("poweredge_sim.bmc.DELL_MANUFACTURER_ID", 343)  # Intel
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(poweredge_sim)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_dell"


async def test_user_flow_aborts_for_duplicate(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mock_config_entry: MockConfigEntry,
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(poweredge_sim)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth_flow(
    hass: HomeAssistant,
    poweredge_sim_factory: SimFactory,
) -> None:
    sim = poweredge_sim_factory("r730", password="new-secret")
    entry = MockConfigEntry(
        domain=DOMAIN,
        data=sim_entry_data(sim),  # still the old password, calvin
        unique_id=sim_unique_id(sim),
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "root", CONF_PASSWORD: "still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "root", CONF_PASSWORD: "new-secret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == "new-secret"


async def test_reauth_refuses_another_server(
    hass: HomeAssistant, poweredge_sim: SimulatedIdrac
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN, data=sim_entry_data(poweredge_sim), unique_id="another-guid"
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "root", CONF_PASSWORD: "calvin"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "different_device"


async def test_reconfigure_flow(
    hass: HomeAssistant, poweredge_sim_factory: SimFactory
) -> None:
    old = poweredge_sim_factory("r730")
    entry = MockConfigEntry(
        domain=DOMAIN, data=sim_entry_data(old), unique_id=sim_unique_id(old)
    )
    entry.add_to_hass(hass)
    # The same server at a new port (the GUID is what identifies it).
    new_port = old.port
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(old, **{CONF_PASSWORD: "wrong"})
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(old, cipher_suite="3")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_CIPHER_SUITE] == "3"
    assert entry.data[CONF_PORT] == new_port


async def test_reconfigure_refuses_another_server(
    hass: HomeAssistant, poweredge_sim_factory: SimFactory
) -> None:
    first = poweredge_sim_factory("r730")
    second = poweredge_sim_factory("r730")
    entry = MockConfigEntry(
        domain=DOMAIN, data=sim_entry_data(first), unique_id=sim_unique_id(first)
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _user_input(second)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "different_device"
    assert entry.data[CONF_PORT] == first.port
