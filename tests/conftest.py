"""Fixtures shared by every test."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any
from unittest.mock import PropertyMock, patch
import uuid

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

# Must be imported before the hass fixture mounts PHCC's own custom_components package.
import custom_components.dell_fan_control  # noqa: F401
from custom_components.dell_fan_control.const import (
    CIPHER_SUITE_AUTO,
    CONF_CIPHER_SUITE,
    DOMAIN,
)
from poweredge_sim import SimulatedIdrac

pytest_plugins = ["tests.plugins.sim", "tests.plugins.mosquitto"]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load our integration from custom_components/."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with HA's serializer, which masks ids and timestamps."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable entities that are disabled by default, so snapshots see them all."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


def sim_entry_data(sim: SimulatedIdrac, **overrides: Any) -> dict[str, Any]:
    """Config entry data pointing at a running simulator."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: sim.port,
        CONF_USERNAME: "root",
        CONF_PASSWORD: "calvin",
        CONF_CIPHER_SUITE: CIPHER_SUITE_AUTO,
    } | overrides


def sim_unique_id(sim: SimulatedIdrac) -> str:
    """The unique id the integration derives from the simulator's system GUID."""
    return str(uuid.UUID(bytes_le=sim.guid))


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Options of the test entry; override in a test module or by parametrize."""
    return {}


@pytest.fixture
def mock_config_entry(
    poweredge_sim: SimulatedIdrac, entry_options: dict[str, Any]
) -> MockConfigEntry:
    """An entry for the R730 simulator."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=poweredge_sim.system_name,
        data=sim_entry_data(poweredge_sim),
        options=entry_options,
        unique_id=sim_unique_id(poweredge_sim),
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> AsyncGenerator[MockConfigEntry]:
    """The integration set up against the simulator; unloaded at teardown."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    yield mock_config_entry
    if mock_config_entry.state is ConfigEntryState.LOADED:
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
        await hass.async_block_till_done()
