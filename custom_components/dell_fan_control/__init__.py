"""Dell PowerEdge fan control over IPMI-LAN: sensors, a fan entity and HA-side curves.

Home Assistant is imported inside the functions, not at the top: running the
compatibility check (``python -m custom_components.dell_fan_control.idrac probe``)
imports this package first, and it must work on a machine without Home Assistant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import DellFanConfigEntry

PLATFORMS = ["fan", "sensor", "switch"]


async def async_setup_entry(hass: HomeAssistant, entry: DellFanConfigEntry) -> bool:
    """Connect, read the SDR once, then poll."""
    from homeassistant.const import EVENT_HOMEASSISTANT_STOP
    from homeassistant.core import Event

    from .coordinator import DellFanCoordinator
    from .mirror import MqttMirror, async_delete_mqtt_issue
    from .mqtt_payload import default_hostname

    coordinator = DellFanCoordinator(hass, entry)
    try:
        await coordinator.async_config_entry_first_refresh()
    except Exception:
        # A retried setup builds a new client: never leave a session open on the BMC.
        await hass.async_add_executor_job(coordinator.client.close)
        raise
    entry.runtime_data = coordinator

    options = coordinator.options
    if options.mirror_enabled:
        coordinator.mirror = MqttMirror(
            hass,
            entry,
            topic_prefix=options.topic_prefix,
            hostname=options.hostname
            or default_hostname(coordinator.identity.system_name, entry.title),
            breaker_settings=options.breaker_settings(),
        )
        await coordinator.mirror.async_start()
    else:
        async_delete_mqtt_issue(hass, entry)

    async def _hand_back_on_stop(_event: Event) -> None:
        await coordinator.async_hand_back()
        if coordinator.mirror is not None:
            await coordinator.mirror.async_stop()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _hand_back_on_stop)
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Entities have now said which sensors they need; fill them without waiting a cycle.
    await coordinator.async_refresh()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: DellFanConfigEntry) -> bool:
    """Hand the fans back to the iDRAC (unless told not to) and close the session."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        coordinator = entry.runtime_data
        await coordinator.async_hand_back()
        if coordinator.mirror is not None:
            await coordinator.mirror.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: DellFanConfigEntry) -> None:
    """Repair issues belong to their entry: none outlives it."""
    from homeassistant.helpers import issue_registry as ir

    from .const import DOMAIN

    suffix = f"_{entry.entry_id}"
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain == DOMAIN and issue_id.endswith(suffix):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
