"""Sensors: the BMC's temperatures, fan speeds and power, plus what the control law decided."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    REVOLUTIONS_PER_MINUTE,
    EntityCategory,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .breaker import BreakerState
from .control import Reason
from .coordinator import DellFanConfigEntry, DellFanCoordinator
from .entity import DellFanEntity
from .idrac.models import SensorInfo, SensorKind

PARALLEL_UPDATES = 0


def _temperature(
    key: str, translation_key: str, **extra: Any
) -> SensorEntityDescription:
    return SensorEntityDescription(
        key=key,
        translation_key=translation_key,
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        **extra,
    )


def _bmc_description(info: SensorInfo) -> SensorEntityDescription:
    """How a BMC sensor of each kind is shown; names repeat on the BMC, so CPUs get numbers."""
    match info.kind:
        case SensorKind.CPU_TEMPERATURE:
            return _temperature(
                info.key,
                "cpu_temperature",
                translation_placeholders={"index": str(info.entity_instance)},
            )
        case SensorKind.INLET_TEMPERATURE | SensorKind.EXHAUST_TEMPERATURE:
            return _temperature(info.key, info.kind.value)
        case SensorKind.OTHER_TEMPERATURE:
            return _temperature(
                info.key,
                "other_temperature",
                translation_placeholders={"name": info.name},
                entity_registry_enabled_default=False,
            )
        case SensorKind.FAN:
            return SensorEntityDescription(
                key=info.key,
                translation_key="fan_speed",
                # iDRAC 6 names fans "FAN 1 RPM"; the unit is already in the entity.
                translation_placeholders={"name": info.name.removesuffix(" RPM")},
                native_unit_of_measurement=REVOLUTIONS_PER_MINUTE,
                state_class=SensorStateClass.MEASUREMENT,
            )
        case SensorKind.POWER:
            return SensorEntityDescription(
                key=info.key,
                translation_key="power",
                device_class=SensorDeviceClass.POWER,
                native_unit_of_measurement=UnitOfPower.WATT,
                state_class=SensorStateClass.MEASUREMENT,
            )


class BmcSensorEntity(DellFanEntity, SensorEntity):
    """A sensor read from the iDRAC; unavailable while the server is powered off."""

    def __init__(self, coordinator: DellFanCoordinator, info: SensorInfo) -> None:
        super().__init__(coordinator, info.key)
        self.entity_description = _bmc_description(info)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            self.coordinator.register_entity_key(self.entity_description.key)
        )

    @property
    def available(self) -> bool:
        return super().available and self.coordinator.data.powered_on

    @property
    def native_value(self) -> float | None:
        return self.coordinator.data.readings.get(self.entity_description.key)


# Why there is no control-law decision: Dell auto chosen, or fan commands off.
NOT_CONTROLLING = ("dell_auto", "monitor_only")


def _control_reason(coordinator: DellFanCoordinator) -> str:
    if coordinator.monitor_only:
        return "monitor_only"
    decision = coordinator.data.decision
    return "dell_auto" if decision is None else decision.reason.value


@dataclass(frozen=True, kw_only=True)
class ControlSensorEntityDescription(SensorEntityDescription):
    """A sensor computed by the integration rather than read from the BMC."""

    value_fn: Callable[[DellFanCoordinator], float | str | None]


CONTROL_SENSORS: tuple[ControlSensorEntityDescription, ...] = (
    ControlSensorEntityDescription(
        key="target_percent",
        translation_key="target_percent",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda coordinator: coordinator.data.target_percent,
    ),
    ControlSensorEntityDescription(
        key="control_temperature",
        translation_key="control_temperature",
        value_fn=lambda coordinator: coordinator.data.control_temperature,
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
    ),
    ControlSensorEntityDescription(
        key="control_reason",
        translation_key="control_reason",
        device_class=SensorDeviceClass.ENUM,
        options=[*(reason.value for reason in Reason), *NOT_CONTROLLING],
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_control_reason,
    ),
    ControlSensorEntityDescription(
        key="poll_duration",
        translation_key="poll_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_display_precision=3,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda coordinator: coordinator.data.poll_seconds,
    ),
    ControlSensorEntityDescription(
        key="firmware",
        translation_key="firmware",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.identity.firmware,
    ),
    ControlSensorEntityDescription(
        key="cipher_suite",
        translation_key="cipher_suite",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda coordinator: coordinator.client.cipher_suite,
    ),
)


MQTT_BREAKER_SENSOR = ControlSensorEntityDescription(
    key="mqtt_breaker",
    translation_key="mqtt_breaker",
    device_class=SensorDeviceClass.ENUM,
    options=[state.value for state in BreakerState],
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=lambda coordinator: (
        None if coordinator.mirror is None else coordinator.mirror.breaker.state.value
    ),
)


class ControlSensorEntity(DellFanEntity, SensorEntity):
    """A value the integration computes each poll."""

    entity_description: ControlSensorEntityDescription

    def __init__(
        self,
        coordinator: DellFanCoordinator,
        description: ControlSensorEntityDescription,
    ) -> None:
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> float | str | None:
        return self.entity_description.value_fn(self.coordinator)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DellFanConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One entity per readable BMC sensor, plus the control sensors."""
    coordinator = entry.runtime_data
    entities: list[SensorEntity] = [
        BmcSensorEntity(coordinator, info) for info in coordinator.sensors.values()
    ]
    entities.extend(
        ControlSensorEntity(coordinator, description) for description in CONTROL_SENSORS
    )
    if coordinator.mirror is not None:
        entities.append(ControlSensorEntity(coordinator, MQTT_BREAKER_SENSOR))
    async_add_entities(entities)
