"""The whole path: simulated iDRAC → coordinator → mirror → HA's MQTT → real mosquitto."""

from __future__ import annotations

import asyncio

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.breaker import BreakerState
from custom_components.dell_fan_control.const import DOMAIN, PRESET_MANUAL
from custom_components.dell_fan_control.coordinator import DellFanCoordinator
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id
from tests.plugins.mosquitto import MosquittoBroker, MosquittoLevel, MqttSubscriber
from tests.test_init import MANUAL, oem_requests

from .common import MqttEntryFactory

METRICS = "servers/r730-sim/metrics"
STATUS = "servers/r730-sim/status"


def _mirrored_entry(sim: SimulatedIdrac, **options: object) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=sim.system_name,
        data=sim_entry_data(sim),
        unique_id=sim_unique_id(sim),
        options={"mirror_enabled": True, **options},
    )


async def _set_up_mirrored(
    hass: HomeAssistant,
    sim: SimulatedIdrac,
    broker: MosquittoBroker,
    mqtt_entry_factory: MqttEntryFactory,
    **options: object,
) -> tuple[MqttSubscriber, MockConfigEntry]:
    """HA's MQTT entry for the broker, a subscriber on servers/#, our entry set up."""
    await mqtt_entry_factory(broker)
    subscriber = broker.subscribe("servers/#")
    entry = _mirrored_entry(sim, **options)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return subscriber, entry


@pytest.mark.parametrize("level", list(MosquittoLevel))
async def test_integration_publishes_at_every_security_level(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mosquitto_factory,
    mqtt_entry_factory: MqttEntryFactory,
    level: MosquittoLevel,
) -> None:
    """HA's MQTT entry carries the broker's credentials and certificates; we just publish."""
    broker = mosquitto_factory(level)
    subscriber, entry = await _set_up_mirrored(
        hass, poweredge_sim, broker, mqtt_entry_factory
    )

    metrics = (await subscriber.wait_for(METRICS)).json()
    assert metrics["schema"] == 1
    assert metrics["temperatures_c"]["cpu1_temperature"] > 0
    await subscriber.wait_for(STATUS, lambda m: m.json()["state"] == "online")
    subscriber.stop()
    # A late subscriber still gets the status: it is retained.
    late = broker.subscribe(STATUS)
    assert (await late.wait_for(STATUS)).json()["breaker"] == "closed"
    late.stop()
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_mirror_follows_polls_and_survives_broker_outage(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mosquitto_factory,
    mqtt_entry_factory: MqttEntryFactory,
) -> None:
    broker = mosquitto_factory(MosquittoLevel.ANONYMOUS)
    subscriber, entry = await _set_up_mirrored(
        hass,
        poweredge_sim,
        broker,
        mqtt_entry_factory,
        breaker_threshold=1,
        breaker_min_retry_seconds=0.1,
        breaker_max_retry_seconds=0.2,
    )
    coordinator: DellFanCoordinator = entry.runtime_data
    assert coordinator.mirror is not None
    await coordinator.async_set_preset(PRESET_MANUAL, 30)

    metrics = (
        await subscriber.wait_for(
            METRICS, lambda m: m.json()["fan_command_percent"] == 30
        )
    ).json()
    assert metrics["hostname"] == "r730-sim"
    assert metrics["mode"] == "manual"
    assert set(metrics["temperatures_c"]) >= {
        "cpu1_temperature",
        "cpu2_temperature",
        "inlet_temperature",
    }
    assert metrics["fan_speeds_rpm"]["fan1"] > 0
    assert metrics["power_w"] > 0
    status = await subscriber.wait_for(STATUS, lambda m: m.json()["mode"] == "manual")
    assert status.retain or status.json()["state"] == "online"
    assert hass.states.get("sensor.r730_sim_mqtt_circuit_breaker").state == "closed"

    # Broker down: polls and fan commands go on exactly as before; the breaker opens.
    broker.stop()
    sent = len(oem_requests(poweredge_sim))
    packets = poweredge_sim.counters.packets_in
    for _ in range(3):
        await coordinator.async_refresh()
        await asyncio.sleep(0.05)
        assert coordinator.last_update_success
    assert oem_requests(poweredge_sim)[sent:] == [MANUAL] * 3
    assert coordinator.mirror.breaker.state is BreakerState.OPEN
    per_poll = (poweredge_sim.counters.packets_in - packets) / 3
    assert per_poll == len(coordinator.data.readings) + 1  # readings + manual re-assert

    # Broker back: half-open trial, closed, and the retained status is sent again.
    subscriber.stop()
    broker.start()
    subscriber = broker.subscribe("servers/#")
    async with asyncio.timeout(10):
        while coordinator.mirror.breaker.state is not BreakerState.CLOSED:
            await coordinator.async_refresh()
            await asyncio.sleep(0.1)
    await subscriber.wait_for(STATUS, lambda m: m.json()["state"] == "online")
    await subscriber.wait_for(METRICS)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await subscriber.wait_for(STATUS, lambda m: m.json()["state"] == "offline")
    assert poweredge_sim.mode == "automatic"
    subscriber.stop()


@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_home_assistant_stop_hands_back_and_says_offline(
    hass: HomeAssistant,
    poweredge_sim: SimulatedIdrac,
    mosquitto_factory,
    mqtt_entry_factory: MqttEntryFactory,
) -> None:
    broker = mosquitto_factory(MosquittoLevel.ANONYMOUS)
    subscriber, entry = await _set_up_mirrored(
        hass, poweredge_sim, broker, mqtt_entry_factory
    )
    await entry.runtime_data.async_set_preset(PRESET_MANUAL, 30)
    await subscriber.wait_for(STATUS, lambda m: m.json()["mode"] == "manual")

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    assert poweredge_sim.mode == "automatic"
    await subscriber.wait_for(STATUS, lambda m: m.json()["state"] == "offline")
    subscriber.stop()
    late = broker.subscribe(STATUS)  # retained: what a dashboard starting now sees
    assert (await late.wait_for(STATUS)).json()["state"] == "offline"
    late.stop()
