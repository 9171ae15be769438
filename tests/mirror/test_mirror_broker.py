"""The mirror against Debian's mosquitto through HA's own MQTT integration, at each security level."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import time
from typing import TYPE_CHECKING

import pytest

from custom_components.dell_fan_control.breaker import BreakerState
from custom_components.dell_fan_control.mqtt_payload import ServerState, StatusSnapshot
from tests.plugins.mosquitto import (
    MosquittoBroker,
    MosquittoFactory,
    MosquittoLevel,
    ReceivedMessage,
)

from .common import (
    METRICS_TOPIC,
    ONLINE,
    STATUS_TOPIC,
    MirrorFactory,
    MqttEntryFactory,
    metrics_snapshot,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from custom_components.dell_fan_control.mirror import MqttMirror


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll for up to 5 s: publishes are background tasks that HA's block_till_done skips."""
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the mirror's state
            await asyncio.sleep(0.01)


def settled(mirror: MqttMirror) -> Callable[[], bool]:
    """Condition: no publish in flight."""
    return lambda: not mirror.diagnostics()["in_flight"]


def status_is(state: str, breaker: str) -> Callable[[ReceivedMessage], bool]:
    """Predicate for ``wait_for``: a status payload with this state and breaker state."""

    def matches(message: ReceivedMessage) -> bool:
        payload = message.json()
        return bool(payload["state"] == state and payload["breaker"] == breaker)

    return matches


@pytest.mark.parametrize("level", list(MosquittoLevel))
async def test_metrics_and_retained_status_reach_a_subscriber(
    mosquitto_factory: MosquittoFactory,
    mqtt_entry_factory: MqttEntryFactory,
    mirror_factory: MirrorFactory,
    level: MosquittoLevel,
) -> None:
    broker = mosquitto_factory(level)
    live = broker.subscribe("servers/#")
    await mqtt_entry_factory(broker)
    mirror = await mirror_factory()

    mirror.publish_status(ONLINE)
    mirror.publish_metrics(metrics_snapshot())

    metrics = (await live.wait_for(METRICS_TOPIC)).json()
    assert metrics["schema"] == 1
    assert metrics["hostname"] == "r730"
    assert metrics["temperatures_c"]["cpu2_temperature"] == 51.0
    assert metrics["fan_speeds_rpm"] == {"fan1": 3600, "fan2": 3480}
    assert set(metrics) == {
        "schema",
        "timestamp",
        "hostname",
        "temperatures_c",
        "fan_speeds_rpm",
        "power_w",
        "fan_command_percent",
        "mode",
        "control_temperature_c",
    }
    await live.wait_for(STATUS_TOPIC)
    # Only a subscriber that arrives later gets a message with the retain flag set.
    retained = await broker.subscribe(STATUS_TOPIC).wait_for(STATUS_TOPIC)
    assert retained.retain
    assert retained.json() == {
        "schema": 1,
        "timestamp": retained.json()["timestamp"],
        "hostname": "r730",
        "state": "online",
        "mode": "curve",
        "breaker": "closed",
        "last_error": None,
    }

    await mirror.async_stop()
    offline = await broker.subscribe(STATUS_TOPIC).wait_for(STATUS_TOPIC)
    assert offline.retain
    assert offline.json()["state"] == "offline"
    assert offline.json()["mode"] == "curve"
    assert mirror.breaker.failures == 0


async def test_status_is_published_only_when_it_changes(
    mosquitto_factory: MosquittoFactory,
    mqtt_entry_factory: MqttEntryFactory,
    mirror_factory: MirrorFactory,
) -> None:
    broker = mosquitto_factory(MosquittoLevel.ANONYMOUS)
    live = broker.subscribe(STATUS_TOPIC)
    await mqtt_entry_factory(broker)
    mirror = await mirror_factory()

    for _ in range(3):
        mirror.publish_status(ONLINE)
        await wait_until(settled(mirror))
    failsafe = StatusSnapshot(
        state=ServerState.FAILSAFE, mode="auto", last_error="BMC timeout"
    )
    mirror.publish_status(failsafe)
    await live.wait_for(
        STATUS_TOPIC, lambda message: message.json()["state"] == "failsafe"
    )

    assert [message.json()["state"] for message in live.on_topic(STATUS_TOPIC)] == [
        "online",
        "failsafe",
    ]


type Misconfiguration = tuple[
    MosquittoLevel, Callable[[MosquittoBroker], dict[str, str]]
]


@pytest.mark.parametrize(
    "misconfiguration",
    [
        (MosquittoLevel.PASSWORD, lambda _broker: {"password": "wrong"}),
        (
            MosquittoLevel.TLS,
            lambda broker: {
                "certificate": broker.pki.untrusted_ca_cert.read_text(encoding="utf-8")
            },
        ),
    ],
    ids=["wrong_password", "untrusted_ca"],
)
async def test_unusable_broker_opens_the_breaker_without_raising(
    mosquitto_factory: MosquittoFactory,
    mqtt_entry_factory: MqttEntryFactory,
    mirror_factory: MirrorFactory,
    misconfiguration: Misconfiguration,
    caplog: pytest.LogCaptureFixture,
) -> None:
    level, entry_changes = misconfiguration
    broker = mosquitto_factory(level)
    await mqtt_entry_factory(broker, **entry_changes(broker))
    mirror = await mirror_factory(publish_timeout=0.1)

    async with asyncio.timeout(5):
        while mirror.breaker.state is not BreakerState.OPEN:
            mirror.publish_metrics(
                metrics_snapshot()
            )  # a poll: returns at once, never raises
            await asyncio.sleep(0.02)

    # Threshold 2: the third consecutive failure opens it. HA's client may report the very
    # first publish as sent (written before the broker refused the connection).
    assert mirror.breaker.consecutive_failures == 3
    assert mirror.diagnostics()["last_publish_error"].startswith(METRICS_TOPIC)
    assert caplog.text.count("MQTT mirror of PowerEdge R730 paused") == 1


async def test_broker_outage_skips_publishing_and_recovery_republishes_status(
    hass: HomeAssistant,
    mosquitto_factory: MosquittoFactory,
    mqtt_entry_factory: MqttEntryFactory,
    mirror_factory: MirrorFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = mosquitto_factory(MosquittoLevel.PASSWORD)
    await mqtt_entry_factory(broker)
    mirror = await mirror_factory()
    mirror.publish_status(ONLINE)
    mirror.publish_metrics(metrics_snapshot())
    await wait_until(settled(mirror))
    assert mirror.breaker.successes == 2

    await hass.async_add_executor_job(broker.stop)
    await wait_until(lambda: mirror.breaker.state is BreakerState.OPEN)

    durations = []
    for _ in range(200):
        started = time.perf_counter()
        mirror.publish_metrics(metrics_snapshot())
        mirror.publish_status(ONLINE)
        durations.append(time.perf_counter() - started)
    # Nothing was attempted, nothing waits: no publish is in flight while the broker is down.
    assert mirror.diagnostics()["in_flight"] == []
    assert mirror.breaker.skipped >= 399
    assert max(durations) < 0.005

    await hass.async_add_executor_job(broker.start)
    late = broker.subscribe(STATUS_TOPIC)
    # HA reconnects, the breaker lets the next publish through as the trial, which closes it.
    async with asyncio.timeout(5):
        while mirror.breaker.state is not BreakerState.CLOSED:
            mirror.publish_metrics(metrics_snapshot())
            mirror.publish_status(ONLINE)
            await asyncio.sleep(0.05)
    # The restarted broker lost the retained status (no persistence): it is published again.
    republished = await late.wait_for(STATUS_TOPIC, status_is("online", "closed"))
    assert republished.json()["breaker"] == "closed"
    assert caplog.text.count("MQTT mirror of PowerEdge R730 paused") == 1
    assert caplog.text.count("MQTT mirror of PowerEdge R730 resumed") == 1
