"""Polls one iDRAC and applies the fan decision; all IPMI work runs in the executor.

One asyncio lock serialises every BMC exchange, so a poll and a user's fan command
never interleave on the single RMCP+ session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
import time
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    UnitOfTemperature,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import TemperatureConverter

from .const import (
    CIPHER_SUITE_AUTO,
    CONF_CIPHER_SUITE,
    DOMAIN,
    EVENT_FAILSAFE,
    IPMI_TIMEOUT,
    LOGGER,
    PRESET_AUTO,
    PRESET_CURVE,
    PRESET_MANUAL,
)
from .control import Action, Decision, FanController, Reason, control_temperature
from .fan_response import FanResponseCheck, ResponseVerdict
from .idrac import IdracClient
from .idrac.models import (
    ConnectionSettings,
    DeviceIdentity,
    FanControlCapability,
    IdracAuthError,
    IdracError,
    IdracNotPermittedError,
    IdracUnsupportedError,
    SensorInfo,
    SensorKind,
)
from .mirror import MqttMirror
from .mqtt_payload import MetricsSnapshot, ServerState, StatusSnapshot
from .options import EntryOptions

type DellFanConfigEntry = ConfigEntry[DellFanCoordinator]

TEMPERATURE_KINDS = frozenset(
    {
        SensorKind.CPU_TEMPERATURE,
        SensorKind.INLET_TEMPERATURE,
        SensorKind.EXHAUST_TEMPERATURE,
        SensorKind.OTHER_TEMPERATURE,
    }
)

# Failsafe event reason and repair issue when the fans do not follow our commands.
FANS_IGNORE_COMMANDS = "fans_ignore_commands"
# Repair issue when the BMC reads no CPU temperature and no source was chosen.
NO_CPU_TEMPERATURE = "no_cpu_temperature"

# Reasons that mean "we could not be sure", as opposed to the user choosing Dell auto.
FAILSAFE_REASONS = frozenset(
    {
        Reason.CRITICAL_TEMPERATURE,
        Reason.UNKNOWN_READING,
        Reason.NO_SOURCES,
        Reason.REPEATED_POLL_FAILURES,
    }
)


def connection_settings(data: Mapping[str, Any]) -> ConnectionSettings:
    """Config entry data → client settings."""
    suite = data.get(CONF_CIPHER_SUITE, CIPHER_SUITE_AUTO)
    return ConnectionSettings(
        host=data[CONF_HOST],
        port=int(data[CONF_PORT]),
        username=data[CONF_USERNAME],
        password=data[CONF_PASSWORD],
        cipher_suite=None if suite == CIPHER_SUITE_AUTO else int(suite),
        timeout=IPMI_TIMEOUT,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DellFanData:
    """One poll's worth of state; compared by value so unchanged polls don't wake entities."""

    readings: Mapping[str, float | None]
    powered_on: bool
    preset: str
    commanded_percent: int | None
    """The manual % in force; None while the iDRAC's own curve is in charge."""
    decision: Decision | None
    """The control law's last word; None in the auto preset and in monitor-only."""
    control_temperature: float | None
    """The hottest selected source, shown even when the law is not in charge."""
    target_percent: int | None
    poll_seconds: float = field(compare=False)


class DellFanCoordinator(DataUpdateCoordinator[DellFanData]):
    """Owns the client, the control law and the fan state of one server."""

    config_entry: DellFanConfigEntry
    identity: DeviceIdentity
    sensors: dict[str, SensorInfo]
    capability: FanControlCapability | None
    pcie_cooling_response: bool | None

    def __init__(self, hass: HomeAssistant, entry: DellFanConfigEntry) -> None:
        self.options = EntryOptions.from_mapping(entry.options)
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=timedelta(seconds=self.options.scan_interval),
            always_update=False,
        )
        self.client = IdracClient(connection_settings(entry.data))
        self.clock: Callable[[], float] = time.monotonic  # the control law's time
        self.response_check = FanResponseCheck()
        self.mirror: MqttMirror | None = None
        self._commanded: int | None = None
        self.controller = FanController(
            self.options.control_settings(fixed_percent=None)
        )
        self.preset = PRESET_AUTO
        self.manual_percent = 50
        self.capability = None
        self.pcie_cooling_response = None
        self._lock = asyncio.Lock()
        self._entity_keys: dict[str, int] = {}
        self._default_sources: tuple[str, ...] = ()
        # Session generation in which "automatic" was last confirmed; -1: not this session.
        self._auto_confirmed_in = -1
        self._written_percent: tuple[int, int] | None = None  # (session generation, %)
        self._session_seen = 0
        self._in_failsafe = False

    @property
    def monitor_only(self) -> bool:
        """True when no Dell OEM fan command may ever be sent."""
        return self.options.monitor_only or self.capability not in (
            None,
            FanControlCapability.SUPPORTED,
        )

    @property
    def control_source_keys(self) -> tuple[str, ...]:
        """The BMC sensors that feed the control temperature."""
        if self.options.sources:
            return tuple(key for key in self.options.sources if key in self.sensors)
        return self._default_sources

    def _find_default_sources(self) -> tuple[str, ...]:
        """The CPU sensors, or none if the BMC never reads them (iDRAC 6 often).

        Asked once at setup with the server on. Inlet or exhaust air is no stand-in:
        the curve and the critical temperature are CPU temperatures, and air that
        never reaches them would hold the fans at the floor whatever the CPUs do.
        With no source the fans stay in Dell automatic until the user picks some.
        A CPU sensor that stops reading later is not dropped: it counts as hot.
        """
        cpus = self._keys_of(SensorKind.CPU_TEMPERATURE)
        readings = self.client.read(cpus)
        if any(value is not None for value in readings.values()):
            return cpus
        if not cpus or self.client.chassis_power_on():
            LOGGER.info("%s: the BMC reads no CPU temperature", self.name)
            return ()
        return cpus

    def _keys_of(self, *kinds: SensorKind) -> tuple[str, ...]:
        return tuple(key for key, info in self.sensors.items() if info.kind in kinds)

    def register_entity_key(self, key: str) -> Callable[[], None]:
        """Enabled entities say which sensors to poll; disabled ones cost no packets."""
        self._entity_keys[key] = self._entity_keys.get(key, 0) + 1

        def unregister() -> None:
            self._entity_keys[key] -= 1
            if not self._entity_keys[key]:
                del self._entity_keys[key]

        return unregister

    def _entity_temperature(self, entity_id: str) -> float | None:
        """Another Home Assistant entity's temperature in °C; None (= hot) if unusable."""
        state = self.hass.states.get(entity_id)
        if state is None:
            return None
        try:
            value = float(state.state)
        except ValueError:
            return None
        unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT, UnitOfTemperature.CELSIUS)
        if unit not in TemperatureConverter.VALID_UNITS:
            return None
        return TemperatureConverter.convert(value, unit, UnitOfTemperature.CELSIUS)

    @override
    async def _async_setup(self) -> None:
        """Identity, SDR and fan-control capability, once per setup."""
        async with self._lock:
            try:
                await self.hass.async_add_executor_job(self._setup_blocking)
            except IdracAuthError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="invalid_auth"
                ) from err
            except IdracError as err:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="cannot_connect",
                    translation_placeholders={"error": str(err)},
                ) from err
        self._update_setup_issues()

    def _setup_blocking(self) -> None:
        self.client.connect()
        self.identity = self.client.identity()
        self.sensors = {info.key: info for info in self.client.sensors()}
        self._default_sources = self._find_default_sources()
        if self.options.monitor_only:
            return
        self.capability = self.client.probe_fan_control()
        if self.capability is FanControlCapability.SUPPORTED:
            # The probe sent "automatic": that is what the fans do until the first decision.
            self._auto_confirmed_in = self.client.session_generation
            try:
                self.pcie_cooling_response = self.client.get_pcie_cooling_response()
            except IdracUnsupportedError:
                self.pcie_cooling_response = None

    def _update_setup_issues(self) -> None:
        """Raise or clear the issues setup can find: fan control refused, no source."""
        refused = self.capability in (
            FanControlCapability.NOT_PERMITTED,
            FanControlCapability.UNSUPPORTED,
        )
        self._update_warning_issue(
            "fan_control",
            f"fan_control_{self.capability}" if refused else None,
            title=self.config_entry.title,
            firmware=self.identity.firmware,
        )
        no_cpu_temperature = not (
            self.monitor_only
            or self._default_sources
            or self.control_source_keys
            or self.options.extra_sources
        )
        self._update_warning_issue(
            NO_CPU_TEMPERATURE,
            NO_CPU_TEMPERATURE if no_cpu_temperature else None,
            title=self.config_entry.title,
        )

    def _update_warning_issue(
        self, prefix: str, translation_key: str | None, **placeholders: str
    ) -> None:
        """Raise this entry's ``prefix`` repair issue, or clear it (key None)."""
        issue_id = f"{prefix}_{self.config_entry.entry_id}"
        if translation_key is None:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=translation_key,
            translation_placeholders=placeholders,
        )

    @override
    async def _async_update_data(self) -> DellFanData:
        started = time.monotonic()
        keys = tuple(dict.fromkeys((*self._entity_keys, *self._control_input_keys())))
        async with self._lock:
            try:
                readings, powered_on = await self.hass.async_add_executor_job(
                    self._read_blocking, keys
                )
            except IdracAuthError as err:
                await self._async_apply(None)
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="invalid_auth"
                ) from err
            except Exception as err:
                # Any failure, ours to classify or not, is a failed poll: it must count
                # toward the hand-back, or a bug would leave the fans in manual for good.
                if isinstance(err, IdracError):
                    key, error = "cannot_connect", str(err)
                else:
                    LOGGER.exception("%s: poll failed", self.config_entry.title)
                    key, error = "poll_failed", repr(err)
                await self._async_apply(None)
                self._mirror_status(error=error)
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key=key,
                    translation_placeholders={"error": error},
                ) from err
            self._check_fan_response(readings)
            sources = self._control_readings(readings)
            decision = await self._async_apply(sources)
            self._commanded = self._commanded_percent(decision)
        temperature = control_temperature(sources)
        data = DellFanData(
            readings=readings,
            powered_on=powered_on,
            preset=self.preset,
            commanded_percent=self._commanded,
            decision=decision,
            control_temperature=temperature,
            target_percent=None
            if temperature is None
            else self.controller.settings.target_percent(temperature),
            poll_seconds=round(time.monotonic() - started, 4),
        )
        self._mirror_poll(data)
        return data

    def _mirror_poll(self, data: DellFanData) -> None:
        """Hand the poll to the MQTT mirror; it publishes in the background, never awaited."""
        if self.mirror is None:
            return
        by_kind: dict[SensorKind, dict[str, float | None]] = {}
        for key, value in data.readings.items():
            by_kind.setdefault(self.sensors[key].kind, {})[key] = value
        power = by_kind.get(SensorKind.POWER, {})
        self.mirror.publish_metrics(
            MetricsSnapshot(
                timestamp=dt_util.utcnow(),
                temperatures_c={
                    key: value
                    for kind in TEMPERATURE_KINDS
                    for key, value in by_kind.get(kind, {}).items()
                },
                fan_speeds_rpm=by_kind.get(SensorKind.FAN, {}),
                power_w=next(iter(power.values()), None),
                fan_command_percent=data.commanded_percent,
                mode=data.preset,
                control_temperature_c=data.control_temperature,
            )
        )
        self._mirror_status(error=None)

    def _mirror_status(self, *, error: str | None) -> None:
        if self.mirror is None:
            return
        if self.monitor_only:
            state = ServerState.MONITOR_ONLY
        elif self._in_failsafe:
            state = ServerState.FAILSAFE
        else:
            state = ServerState.ONLINE
        self.mirror.publish_status(
            StatusSnapshot(state=state, mode=self.preset, last_error=error)
        )

    def _read_blocking(
        self, keys: tuple[str, ...]
    ) -> tuple[dict[str, float | None], bool]:
        readings = self.client.read(keys)
        # Chassis power costs a round trip: ask only when a reading is missing
        # (CPU sensors read nothing while the server is off; inlet still reads).
        powered_on = (
            all(value is not None for value in readings.values())
            or self.client.chassis_power_on()
        )
        return readings, powered_on

    def _commanded_percent(self, decision: Decision | None) -> int | None:
        if decision is None or decision.action is Action.DELL_AUTO:
            return None
        return decision.percent

    def _control_input_keys(self) -> tuple[str, ...]:
        """Sensors the control loop needs: its sources and, while it commands, the fans."""
        if self.monitor_only or self.preset == PRESET_AUTO:
            return self.control_source_keys
        return (*self.control_source_keys, *self._keys_of(SensorKind.FAN))

    def _check_fan_response(self, readings: Mapping[str, float | None]) -> None:
        """Compare the fans' RPM with what we command (see fan_response.py)."""
        rpms = [
            value
            for key, value in readings.items()
            if value is not None and self.sensors[key].kind is SensorKind.FAN
        ]
        verdict = self.response_check.observe(
            self.clock(), self._commanded, sum(rpms) / len(rpms) if rpms else None
        )
        if verdict is ResponseVerdict.REWRITE:
            LOGGER.info(
                "%s: fans drifted from the command; writing it again", self.name
            )
            self._written_percent = None
        elif verdict is ResponseVerdict.IGNORED:
            LOGGER.warning(
                "%s: the fans ignore our commands; Dell automatic", self.name
            )
            self.preset = PRESET_AUTO
            self.response_check.reset()
            self._fire_failsafe(FANS_IGNORE_COMMANDS, None, ())
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{FANS_IGNORE_COMMANDS}_{self.config_entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=FANS_IGNORE_COMMANDS,
                translation_placeholders={"title": self.config_entry.title},
            )

    def _control_readings(
        self, readings: Mapping[str, float | None]
    ) -> dict[str, float | None]:
        """The selected BMC sensors and Home Assistant entities, in °C."""
        sources = {key: readings.get(key) for key in self.control_source_keys}
        sources.update(
            {
                entity_id: self._entity_temperature(entity_id)
                for entity_id in self.options.extra_sources
            }
        )
        return sources

    async def _async_apply(
        self, sources: Mapping[str, float | None] | None
    ) -> Decision | None:
        """Decide with the control law and send what it asks; None in auto or monitor-only.

        sources None means the poll failed. Called with the lock held.
        """
        if self.monitor_only or self.preset == PRESET_AUTO:
            self._in_failsafe = False  # Dell auto by choice, not for safety
            if not self.monitor_only:
                await self._async_send(self._ensure_automatic)
            return None
        generation = self.client.session_generation
        if generation != self._session_seen:
            # A new session: the BMC may have restarted and dropped our manual mode.
            self._session_seen = generation
            self.controller.on_reconnect()
        decision = self.controller.decide(self.clock(), sources)
        self._note_failsafe(decision)
        if decision.action is Action.DELL_AUTO:
            await self._async_send(self._ensure_automatic)
        elif decision.percent is not None and sources is not None:
            # After a failed poll nothing is sent: the link is down or flaky.
            await self._async_send(self._assert_manual, decision.percent)
        return decision

    def _note_failsafe(self, decision: Decision) -> None:
        failsafe = (
            decision.action is Action.DELL_AUTO and decision.reason in FAILSAFE_REASONS
        )
        if failsafe and not self._in_failsafe:
            LOGGER.warning(
                "%s: fans handed back to Dell automatic (%s)",
                self.config_entry.title,
                decision.reason,
            )
            self._fire_failsafe(
                decision.reason.value,
                decision.control_temperature,
                decision.unknown_sources,
            )
        self._in_failsafe = failsafe

    def _fire_failsafe(
        self, reason: str, temperature: float | None, unknown: tuple[str, ...]
    ) -> None:
        """The event automations listen to (notify, or act on other equipment)."""
        self.hass.bus.async_fire(
            EVENT_FAILSAFE,
            {
                "entry_id": self.config_entry.entry_id,
                "reason": reason,
                "control_temperature": temperature,
                "unknown_sources": list(unknown),
            },
        )

    async def _async_send(self, command: Callable[..., None], *args: Any) -> None:
        """Run a fan command; a lost link is the next poll's problem, a refusal ends control."""
        try:
            await self.hass.async_add_executor_job(command, *args)
        except IdracNotPermittedError:
            LOGGER.error(
                "%s: the firmware refuses fan commands; monitoring only",
                self.config_entry.title,
            )
            self.capability = FanControlCapability.NOT_PERMITTED
            self._update_setup_issues()
            # The fans may still be in our manual mode: ask for Dell auto once. A firmware
            # that refuses fan commands likely refuses this too (its update normally
            # reset the fans to automatic already).
            with contextlib.suppress(IdracError):
                await self.hass.async_add_executor_job(self._ensure_automatic)
        except IdracError as err:
            LOGGER.debug("%s: fan command failed: %s", self.config_entry.title, err)

    def _ensure_automatic(self) -> None:
        if self._auto_confirmed_in == self.client.session_generation:
            return
        self.client.set_fan_mode_automatic()
        self._auto_confirmed_in = self.client.session_generation
        self._written_percent = None

    def _assert_manual(self, percent: int) -> None:
        # Re-asserted every cycle: the iDRAC can silently fall back to automatic.
        self.client.set_fan_mode_manual()
        self._auto_confirmed_in = -1
        generation = self.client.session_generation
        if self._written_percent != (generation, percent):
            self.client.set_fan_percent(percent)
            self._written_percent = (generation, percent)

    async def async_set_preset(self, preset: str, percent: int | None = None) -> None:
        """Switch between Dell auto, our curve and a fixed %; applied at once."""
        if self.monitor_only:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="monitor_only"
            )
        if percent is not None:
            self.manual_percent = percent
        if preset != PRESET_AUTO:
            # The user takes control again after we gave up on unresponsive fans.
            ir.async_delete_issue(
                self.hass,
                DOMAIN,
                f"{FANS_IGNORE_COMMANDS}_{self.config_entry.entry_id}",
            )
        if preset != self.preset and self.preset == PRESET_AUTO:
            # Coming from Dell auto, start from fresh readings, not old history.
            self.controller.on_reconnect()
        self.preset = preset
        fixed = self.manual_percent if preset == PRESET_MANUAL else None
        self.controller.settings = self.options.control_settings(fixed_percent=fixed)
        await self.async_refresh()

    def restore_preset(self, preset: str, percent: int | None) -> None:
        """Take the fan entity's last state after a restart; nothing is sent until a good read."""
        if percent is not None:
            self.manual_percent = percent
        if preset in (PRESET_CURVE, PRESET_MANUAL):
            self.preset = preset
            fixed = self.manual_percent if preset == PRESET_MANUAL else None
            self.controller.settings = self.options.control_settings(
                fixed_percent=fixed
            )

    async def async_set_pcie_cooling_response(self, enabled: bool) -> None:
        """Dell's extra cooling for third-party PCIe cards (Gen 13 and older)."""
        if self.monitor_only:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="monitor_only"
            )
        async with self._lock:
            try:
                await self.hass.async_add_executor_job(
                    self.client.set_pcie_cooling_response, enabled
                )
            except IdracError as err:
                raise HomeAssistantError(
                    translation_domain=DOMAIN, translation_key="command_failed"
                ) from err
            self.pcie_cooling_response = enabled
        self.async_update_listeners()

    async def async_hand_back(self) -> None:
        """Stop polling, give the fans to the iDRAC and close the session (unload, HA stop)."""
        await self.async_shutdown()
        async with self._lock:
            await self.hass.async_add_executor_job(self._hand_back_blocking)

    def _must_hand_back(self) -> bool:
        if self.monitor_only:
            return False  # we never took the fans
        if self.options.hand_back_on_stop:
            return True
        # "Leave as is", but the options just saved (this is the reload) make the next
        # coordinator monitor-only: nothing would ever give the fans back.
        return EntryOptions.from_mapping(self.config_entry.options).monitor_only

    def _hand_back_blocking(self) -> None:
        try:
            if self._must_hand_back():
                self.client.set_fan_mode_automatic()
        except IdracError as err:
            LOGGER.warning(
                "%s: could not hand the fans back to Dell automatic: %s",
                self.config_entry.title,
                err,
            )
        finally:
            self.client.close()
