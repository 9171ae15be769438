"""Diagnostics carry what a bug report needs and none of the secrets."""

from __future__ import annotations

import json

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_unique_id
from tests.plugins.sim import SimFactory


@pytest.fixture
def poweredge_sim(poweredge_sim_factory: SimFactory) -> SimulatedIdrac:
    return poweredge_sim_factory("r730", seed=7, clock=lambda: 0.0)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    poweredge_sim: SimulatedIdrac,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    text = json.dumps(diagnostics)
    for secret in ("calvin", sim_unique_id(poweredge_sim), "127.0.0.1", "r730-sim"):
        assert secret not in text
    assert diagnostics["fan_control_capability"] == "supported"
    assert diagnostics == snapshot(
        exclude=props("entry_id", "created_at", "modified_at", "port", "poll_seconds")
    )
