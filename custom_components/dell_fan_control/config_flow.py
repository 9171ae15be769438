"""Config flow: add a PowerEdge by its iDRAC address and IPMI credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, override

from homeassistant.config_entries import (
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .const import (
    CIPHER_SUITE_AUTO,
    CIPHER_SUITES,
    CONF_CIPHER_SUITE,
    DOMAIN,
    LOGGER,
    SECTION_ADVANCED,
)
from .control import InvalidSettingsError
from .coordinator import TEMPERATURE_KINDS, DellFanConfigEntry, connection_settings
from .idrac import IdracClient
from .idrac.models import (
    DEFAULT_PORT,
    DeviceIdentity,
    IdracAuthError,
    IdracError,
    SensorKind,
)
from .mqtt_payload import validate_topic_segment
from .options import EntryOptions


def _read_identity(data: Mapping[str, Any]) -> DeviceIdentity:
    """Open a session, ask who is there, and close it again (runs in the executor)."""
    client = IdracClient(connection_settings(data))
    try:
        client.connect()
        return client.identity()
    finally:
        client.close()


def _flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Config entry data keeps the advanced section's fields at the top level."""
    data = {key: value for key, value in user_input.items() if key != SECTION_ADVANCED}
    data.update(user_input.get(SECTION_ADVANCED, {}))
    return data


def _connection_schema(
    defaults: Mapping[str, Any], *, with_host: bool = True
) -> probatio.Schema:
    fields: dict[Any, Any] = {}
    if with_host:
        fields[probatio.Required(CONF_HOST, default=defaults.get(CONF_HOST, ""))] = (
            TextSelector(TextSelectorConfig(autocomplete="off"))
        )
        fields[
            probatio.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT))
        ] = NumberSelector(
            NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX)
        )
    fields[
        probatio.Required(CONF_USERNAME, default=defaults.get(CONF_USERNAME, "root"))
    ] = TextSelector(TextSelectorConfig(autocomplete="username"))
    fields[probatio.Required(CONF_PASSWORD)] = TextSelector(
        TextSelectorConfig(
            type=TextSelectorType.PASSWORD, autocomplete="current-password"
        )
    )
    if with_host:
        fields[probatio.Required(SECTION_ADVANCED)] = section(
            probatio.Schema(
                {
                    probatio.Required(
                        CONF_CIPHER_SUITE,
                        default=defaults.get(CONF_CIPHER_SUITE, CIPHER_SUITE_AUTO),
                    ): SelectSelector(
                        SelectSelectorConfig(
                            options=CIPHER_SUITES,
                            mode=SelectSelectorMode.DROPDOWN,
                            translation_key=CONF_CIPHER_SUITE,
                        )
                    )
                }
            ),
            {"collapsed": True},
        )
    return probatio.Schema(fields)


class DellFanConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a PowerEdge; the unique id is the BMC's system GUID, never its address."""

    VERSION = 1

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: DellFanConfigEntry) -> DellFanOptionsFlow:
        return DellFanOptionsFlow()

    async def _async_try_connect(
        self, data: Mapping[str, Any], errors: dict[str, str]
    ) -> DeviceIdentity | None:
        """Map connection problems to form errors; None when the form must be shown again."""
        try:
            identity = await self.hass.async_add_executor_job(_read_identity, data)
        except IdracAuthError:
            errors["base"] = "invalid_auth"
        except IdracError:
            errors["base"] = "cannot_connect"
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while connecting to %s", data[CONF_HOST])
            errors["base"] = "unknown"
        else:
            return identity
        return None

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        data: dict[str, Any] = {}
        if user_input is not None:
            data = _flatten(user_input)
            data[CONF_PORT] = int(data[CONF_PORT])
            if identity := await self._async_try_connect(data, errors):
                if not identity.is_dell:
                    return self.async_abort(reason="not_dell")
                await self.async_set_unique_id(identity.guid)
                self._abort_if_unique_id_configured()
                title = identity.system_name or data[CONF_HOST]
                return self.async_create_entry(title=title, data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                _connection_schema(data), {}
            ),
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change address, credentials or cipher suite of the same server."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        data: dict[str, Any] = dict(entry.data)
        if user_input is not None:
            data = _flatten(user_input)
            data[CONF_PORT] = int(data[CONF_PORT])
            if identity := await self._async_try_connect(data, errors):
                await self.async_set_unique_id(identity.guid)
                self._abort_if_unique_id_mismatch(reason="different_device")
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id="reconfigure", data_schema=_connection_schema(data), errors=errors
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new credentials after the BMC refused the stored ones."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, **user_input}
            if identity := await self._async_try_connect(data, errors):
                await self.async_set_unique_id(identity.guid)
                self._abort_if_unique_id_mismatch(reason="different_device")
                return self.async_update_reload_and_abort(
                    entry, data_updates=user_input
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=_connection_schema(user_input or entry.data, with_host=False),
            description_placeholders={CONF_HOST: entry.data[CONF_HOST]},
            errors=errors,
        )


SECTION_CONTROL: Final = "control"
SECTION_SOURCES: Final = "sources_section"
SECTION_SAFETY: Final = "safety"
SECTION_MQTT: Final = "mqtt"


def _number(
    minimum: float, maximum: float, step: float, unit: str | None = None
) -> NumberSelector:
    config = NumberSelectorConfig(
        min=minimum, max=maximum, step=step, mode=NumberSelectorMode.BOX
    )
    if unit is not None:
        config["unit_of_measurement"] = unit
    return NumberSelector(config)


def _options_schema(temperature_sensors: Mapping[str, str]) -> probatio.Schema:
    """Sections keep the form short; values are flattened into EntryOptions on save."""
    return probatio.Schema(
        {
            probatio.Required(SECTION_CONTROL): section(
                probatio.Schema(
                    {
                        probatio.Required("curve"): TextSelector(),
                        probatio.Required("floor_percent"): _number(0, 100, 1, "%"),
                        probatio.Required("critical_temperature"): _number(
                            30, 120, 0.5, "°C"
                        ),
                        probatio.Required("hysteresis"): _number(0, 20, 0.5, "°C"),
                        probatio.Required("dwell_seconds"): _number(0, 3600, 1, "s"),
                        probatio.Required("slew_percent_per_minute"): _number(
                            0.5, 100, 0.5, "%/min"
                        ),
                        probatio.Required("min_step_percent"): _number(1, 20, 1, "%"),
                        probatio.Required("failures_to_auto"): _number(1, 20, 1),
                        probatio.Required("scan_interval"): _number(5, 300, 1, "s"),
                    }
                ),
                {"collapsed": False},
            ),
            probatio.Required(SECTION_SOURCES): section(
                probatio.Schema(
                    {
                        probatio.Optional("sources"): SelectSelector(
                            SelectSelectorConfig(
                                options=[
                                    SelectOptionDict(value=key, label=name)
                                    for key, name in temperature_sensors.items()
                                ],
                                multiple=True,
                                mode=SelectSelectorMode.LIST,
                            )
                        ),
                        probatio.Optional("extra_sources"): EntitySelector(
                            EntitySelectorConfig(
                                domain="sensor",
                                device_class="temperature",
                                multiple=True,
                            )
                        ),
                    }
                ),
                {"collapsed": True},
            ),
            probatio.Required(SECTION_SAFETY): section(
                probatio.Schema(
                    {
                        probatio.Required("hand_back_on_stop"): BooleanSelector(),
                        probatio.Required("monitor_only"): BooleanSelector(),
                    }
                ),
                {"collapsed": True},
            ),
            probatio.Required(SECTION_MQTT): section(
                probatio.Schema(
                    {
                        probatio.Required("mirror_enabled"): BooleanSelector(),
                        probatio.Required("topic_prefix"): TextSelector(),
                        probatio.Optional("hostname"): TextSelector(),
                        probatio.Required("breaker_threshold"): _number(0, 100, 1),
                        probatio.Required("breaker_min_retry_seconds"): _number(
                            1, 3600, 1, "s"
                        ),
                        probatio.Required("breaker_max_retry_seconds"): _number(
                            1, 3600, 1, "s"
                        ),
                    }
                ),
                {"collapsed": True},
            ),
        }
    )


OPTION_SECTIONS: Final = {
    SECTION_CONTROL: (
        "curve",
        "floor_percent",
        "critical_temperature",
        "hysteresis",
        "dwell_seconds",
        "slew_percent_per_minute",
        "min_step_percent",
        "failures_to_auto",
        "scan_interval",
    ),
    SECTION_SOURCES: ("sources", "extra_sources"),
    SECTION_SAFETY: ("hand_back_on_stop", "monitor_only"),
    SECTION_MQTT: (
        "mirror_enabled",
        "topic_prefix",
        "hostname",
        "breaker_threshold",
        "breaker_min_retry_seconds",
        "breaker_max_retry_seconds",
    ),
}
_SECTION_OF: Final = {
    key: name for name, keys in OPTION_SECTIONS.items() for key in keys
}
_INTEGER_OPTIONS: Final = (
    "floor_percent",
    "min_step_percent",
    "failures_to_auto",
    "scan_interval",
    "breaker_threshold",
)


def _validated_options(user_input: Mapping[str, Mapping[str, Any]]) -> EntryOptions:
    """Flatten the sections and check everything; raises InvalidOptionError naming the field."""
    flat = _flat(user_input)
    for key in _INTEGER_OPTIONS:
        flat[key] = int(flat[key])
    flat["hostname"] = flat.get("hostname", "").strip()
    options = EntryOptions.from_mapping(flat)
    try:
        options.control_settings(fixed_percent=None)
    except InvalidSettingsError as err:
        raise InvalidOptionError(
            err.field if err.field in _SECTION_OF else "curve", str(err)
        ) from err
    try:
        options.breaker_settings()
    except ValueError as err:
        raise InvalidOptionError("breaker_min_retry_seconds", str(err)) from err
    for key in ("topic_prefix", "hostname"):
        if key == "topic_prefix" or options.hostname:
            try:
                validate_topic_segment(getattr(options, key))
            except ValueError as err:
                raise InvalidOptionError(key, str(err)) from err
    return options


class InvalidOptionError(ValueError):
    """One option is wrong; field says which, the message says why."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


class DellFanOptionsFlow(OptionsFlowWithReload):
    """Curve, safety, sources and MQTT; saved only when everything is valid."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders = {"problem": ""}
        if user_input is not None:
            try:
                options = _validated_options(user_input)
            except InvalidOptionError as err:
                errors[_SECTION_OF[err.field]] = "invalid_option"
                placeholders["problem"] = str(err)
            else:
                return self.async_create_entry(data=options.as_mapping())
        shown = (
            _flat(user_input)
            if user_input
            else EntryOptions.from_mapping(self.config_entry.options).as_mapping()
        )
        suggested: dict[str, dict[str, Any]] = {}
        for key, value in shown.items():
            suggested.setdefault(_SECTION_OF[key], {})[key] = value
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                _options_schema(self._temperature_sensors()), suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _temperature_sensors(self) -> dict[str, str]:
        """The BMC's temperature sensors by key, when the entry is loaded."""
        entry = self.config_entry
        if entry.state is not ConfigEntryState.LOADED:
            return {}
        return {
            key: info.name
            if info.kind is not SensorKind.CPU_TEMPERATURE
            else f"CPU {info.entity_instance}"
            for key, info in entry.runtime_data.sensors.items()
            if info.kind in TEMPERATURE_KINDS
        }


def _flat(user_input: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {
        key: value for values in user_input.values() for key, value in values.items()
    }
