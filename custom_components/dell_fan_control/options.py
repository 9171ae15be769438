"""The entry's options as one typed value, with the defaults in one place.

The options flow writes plain JSON-able values; everything else reads them through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from .breaker import BreakerSettings
from .control import ControlSettings, FanCurve
from .mqtt_payload import DEFAULT_TOPIC_PREFIX

# The pure modules own their defaults; the options only mirror them.
_CONTROL = ControlSettings()
_BREAKER = BreakerSettings()


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryOptions:
    """Everything a user can change after setup (Settings → Devices → Configure)."""

    scan_interval: int = 15
    curve: str = str(_CONTROL.curve)
    floor_percent: int = _CONTROL.floor_percent
    critical_temperature: float = _CONTROL.critical_temperature
    hysteresis: float = _CONTROL.hysteresis
    dwell_seconds: float = _CONTROL.dwell_seconds
    slew_percent_per_minute: float = _CONTROL.slew_percent_per_minute
    min_step_percent: int = _CONTROL.min_step_percent
    failures_to_auto: int = _CONTROL.failures_to_auto
    sources: tuple[str, ...] = ()
    """BMC sensor keys for the control temperature; empty means the CPU sensors."""
    extra_sources: tuple[str, ...] = ()
    """Other Home Assistant temperature entities (GPU, disks, room)."""
    hand_back_on_stop: bool = True
    monitor_only: bool = False
    mirror_enabled: bool = False
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    hostname: str = ""
    """Empty: the BMC's System Name, else a slug of the entry title."""
    breaker_threshold: int = _BREAKER.failure_threshold
    breaker_min_retry_seconds: float = _BREAKER.min_retry_seconds
    breaker_max_retry_seconds: float = _BREAKER.max_retry_seconds

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any]) -> Self:
        """Unknown keys are ignored and missing ones take their default."""
        values: dict[str, Any] = {}
        for option in fields(cls):
            if option.name in options:
                value = options[option.name]
                values[option.name] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def as_mapping(self) -> dict[str, Any]:
        """JSON-able form for ConfigEntry.options."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    def control_settings(self, *, fixed_percent: int | None) -> ControlSettings:
        """The control law's settings; raises InvalidSettingsError naming the bad field."""
        return ControlSettings(
            curve=FanCurve.parse(self.curve),
            fixed_percent=fixed_percent,
            floor_percent=self.floor_percent,
            critical_temperature=self.critical_temperature,
            hysteresis=self.hysteresis,
            dwell_seconds=self.dwell_seconds,
            slew_percent_per_minute=self.slew_percent_per_minute,
            min_step_percent=self.min_step_percent,
            failures_to_auto=self.failures_to_auto,
        )

    def breaker_settings(self) -> BreakerSettings:
        """The MQTT circuit breaker's settings; raises ValueError when inconsistent."""
        return BreakerSettings(
            failure_threshold=self.breaker_threshold,
            min_retry_seconds=self.breaker_min_retry_seconds,
            max_retry_seconds=self.breaker_max_retry_seconds,
        )
