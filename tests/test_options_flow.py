"""Options flow: valid input is saved and reloads the entry; invalid input names the problem."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.config_flow import OPTION_SECTIONS
from custom_components.dell_fan_control.options import EntryOptions


def _form(**changes: Any) -> dict[str, dict[str, Any]]:
    """The options form as the frontend submits it: one dict per section."""
    values = EntryOptions().as_mapping() | changes
    return {
        name: {key: values[key] for key in keys}
        for name, keys in OPTION_SECTIONS.items()
    }


async def test_options_saved_and_entry_reloaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema_sources = (
        result["data_schema"].schema["sources_section"].schema.schema["sources"]
    )
    assert {option["value"] for option in schema_sources.config["options"]} >= {
        "cpu1_temperature",
        "cpu2_temperature",
        "inlet_temperature",
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        _form(
            curve="30:15, 70:60, 80:100",
            floor_percent=20.0,
            min_step_percent=8.0,
            scan_interval=30.0,
            sources=["cpu1_temperature", "exhaust_temperature"],
            extra_sources=["sensor.gpu_temperature"],
            mirror_enabled=True,
            hostname="rack-r730",
        ),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()

    options = EntryOptions.from_mapping(init_integration.options)
    assert options.curve == "30:15, 70:60, 80:100"
    assert options.floor_percent == 20
    assert options.min_step_percent == 8
    assert isinstance(options.min_step_percent, int)
    assert options.sources == ("cpu1_temperature", "exhaust_temperature")
    assert options.extra_sources == ("sensor.gpu_temperature",)
    assert init_integration.state is ConfigEntryState.LOADED
    coordinator = init_integration.runtime_data
    assert coordinator.update_interval.total_seconds() == 30
    assert coordinator.controller.settings.min_step_percent == 8
    assert coordinator.control_source_keys == (
        "cpu1_temperature",
        "exhaust_temperature",
    )


@pytest.mark.parametrize(
    ("changes", "section", "problem"),
    [
        ({"curve": "40:20"}, "control", "at least 2"),
        ({"curve": "60:20, 40:30"}, "control", "below the previous"),
        ({"curve": "40:20, 60:10"}, "control", "below the previous"),
        ({"curve": "forty:twenty, 60:30"}, "control", ""),
        ({"curve": "40:20, 130:100"}, "control", "120"),
        (
            {"breaker_min_retry_seconds": 60.0, "breaker_max_retry_seconds": 30.0},
            "mqtt",
            "retry",
        ),
        ({"topic_prefix": "servers/dell"}, "mqtt", "/"),
        ({"hostname": "r730+"}, "mqtt", "+"),
        ({"topic_prefix": ""}, "mqtt", "empty"),
    ],
)
async def test_invalid_options_name_the_problem_and_save_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    changes: dict[str, Any],
    section: str,
    problem: str,
) -> None:
    before = dict(init_integration.options)
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _form(**changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {section: "invalid_option"}
    assert problem in result["description_placeholders"]["problem"]
    assert dict(init_integration.options) == before

    # The same form, corrected, goes through.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], _form()
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_options_flow_without_loaded_entry_offers_no_sensors(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    schema_sources = (
        result["data_schema"].schema["sources_section"].schema.schema["sources"]
    )
    assert schema_sources.config["options"] == []
