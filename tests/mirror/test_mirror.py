"""The mirror's own rules without a broker: in-flight dropping, timeouts, connection status, repairs.

HA's ``mqtt.async_publish`` is replaced by a scripted fake here; the real path is in
test_mirror_broker.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass, field
import json
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_send
import pytest

from custom_components.dell_fan_control.breaker import BreakerSettings, BreakerState
from custom_components.dell_fan_control.const import DOMAIN
from custom_components.dell_fan_control.mirror import (
    MqttMirror,
    async_delete_mqtt_issue,
)
from custom_components.dell_fan_control.mqtt_payload import ServerState, StatusSnapshot

from .common import (
    FAST_BREAKER,
    METRICS_TOPIC,
    ONLINE,
    STATUS_TOPIC,
    MirrorFactory,
    metrics_snapshot,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

# Long enough that only a reconnect, never the clock, can end an open period during a test.
SLOW_RETRY_BREAKER = BreakerSettings(
    failure_threshold=0, min_retry_seconds=3600, max_retry_seconds=3600
)


@dataclass
class FakePublish:
    """Stands in for ``mqtt.async_publish``: records calls; outcome is "ok", "raise" or "hang"."""

    outcome: str = "ok"
    calls: list[tuple[str, dict[str, Any], int, bool]] = field(default_factory=list)

    async def __call__(
        self, hass: HomeAssistant, topic: str, payload: str, qos: int, retain: bool
    ) -> None:
        self.calls.append((topic, json.loads(payload), qos, retain))
        if self.outcome == "raise":
            raise HomeAssistantError("not connected")
        if self.outcome == "hang":
            await asyncio.Event().wait()

    def on_topic(self, topic: str) -> list[dict[str, Any]]:
        return [
            payload
            for called_topic, payload, _, _ in self.calls
            if called_topic == topic
        ]


@pytest.fixture
def fake_publish() -> Generator[FakePublish]:
    fake = FakePublish()
    with patch("homeassistant.components.mqtt.async_publish", fake):
        yield fake


async def test_publishes_qos0_metrics_and_retained_status(
    hass: HomeAssistant, fake_publish: FakePublish, mirror_factory: MirrorFactory
) -> None:
    mirror = await mirror_factory()
    mirror.publish_metrics(metrics_snapshot())
    mirror.publish_status(ONLINE)
    await hass.async_block_till_done()

    assert [(topic, qos, retain) for topic, _, qos, retain in fake_publish.calls] == [
        (METRICS_TOPIC, 0, False),
        (STATUS_TOPIC, 0, True),
    ]


async def test_a_pending_publish_drops_newer_ones_on_its_topic_and_times_out(
    fake_publish: FakePublish, mirror_factory: MirrorFactory
) -> None:
    fake_publish.outcome = "hang"
    mirror = await mirror_factory(publish_timeout=0.05)

    for _ in range(10):
        mirror.publish_metrics(metrics_snapshot())
    mirror.publish_status(ONLINE)  # another topic: not blocked by the pending metrics

    assert [topic for topic, *_ in fake_publish.calls] == [METRICS_TOPIC, STATUS_TOPIC]
    assert mirror.diagnostics()["in_flight"] == [METRICS_TOPIC, STATUS_TOPIC]
    assert mirror.diagnostics()["dropped_in_flight"] == 9

    await asyncio.sleep(0.1)
    assert mirror.diagnostics()["in_flight"] == []
    assert mirror.breaker.failures == 2
    assert "TimeoutError" in mirror.diagnostics()["last_publish_error"]


async def test_a_cancelled_publish_still_reaches_the_breaker(
    fake_publish: FakePublish, mirror_factory: MirrorFactory
) -> None:
    fake_publish.outcome = "hang"
    mirror = await mirror_factory()
    mirror.publish_metrics(metrics_snapshot())
    (task,) = [task for task in asyncio.all_tasks() if METRICS_TOPIC in task.get_name()]

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Otherwise a cancelled trial would leave the breaker half-open for good.
    assert mirror.breaker.failures == 1
    assert mirror.diagnostics()["in_flight"] == []


async def test_status_is_resent_until_delivered(
    hass: HomeAssistant, fake_publish: FakePublish, mirror_factory: MirrorFactory
) -> None:
    mirror = await mirror_factory()
    fake_publish.outcome = "raise"
    mirror.publish_status(ONLINE)
    fake_publish.outcome = "ok"
    mirror.publish_status(ONLINE)
    mirror.publish_status(ONLINE)
    await hass.async_block_till_done()

    assert len(fake_publish.on_topic(STATUS_TOPIC)) == 2
    assert mirror.breaker.consecutive_failures == 0


async def test_disconnect_opens_and_reconnect_lets_one_trial_close_and_resend_status(
    hass: HomeAssistant,
    fake_publish: FakePublish,
    mirror_factory: MirrorFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mirror = await mirror_factory(breaker_settings=SLOW_RETRY_BREAKER)
    mirror.publish_status(ONLINE)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    assert mirror.breaker.state is BreakerState.OPEN

    mirror.publish_metrics(metrics_snapshot())
    mirror.publish_status(ONLINE)
    assert mirror.breaker.skipped == 2

    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    mirror.publish_metrics(metrics_snapshot())  # the trial
    await hass.async_block_till_done()

    assert mirror.breaker.state is BreakerState.CLOSED
    # Sent again although unchanged: the broker may have lost the retained copy.
    statuses = fake_publish.on_topic(STATUS_TOPIC)
    assert [status["breaker"] for status in statuses] == ["closed", "closed"]
    assert caplog.text.count("paused: Home Assistant lost the MQTT broker") == 1
    assert caplog.text.count("resumed") == 1


async def test_recovery_before_any_status_sends_none(
    hass: HomeAssistant, fake_publish: FakePublish, mirror_factory: MirrorFactory
) -> None:
    mirror = await mirror_factory(breaker_settings=SLOW_RETRY_BREAKER)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    mirror.publish_metrics(metrics_snapshot())  # the trial

    assert mirror.breaker.state is BreakerState.CLOSED
    assert [topic for topic, *_ in fake_publish.calls] == [METRICS_TOPIC]


async def test_stop_publishes_offline_once_and_ignores_later_calls(
    hass: HomeAssistant, fake_publish: FakePublish, mirror_factory: MirrorFactory
) -> None:
    mirror = await mirror_factory()
    mirror.publish_status(StatusSnapshot(state=ServerState.MONITOR_ONLY, mode="auto"))
    await mirror.async_stop()
    await mirror.async_stop()
    mirror.publish_metrics(metrics_snapshot())
    mirror.publish_status(ONLINE)
    await hass.async_block_till_done()

    assert [
        (status["state"], status["mode"])
        for status in fake_publish.on_topic(STATUS_TOPIC)
    ] == [
        ("monitor_only", "auto"),
        ("offline", "auto"),
    ]
    assert not fake_publish.on_topic(METRICS_TOPIC)


async def test_publish_before_start_is_ignored(
    hass: HomeAssistant, fake_publish: FakePublish, dell_entry: MockConfigEntry
) -> None:
    mirror = MqttMirror(
        hass,
        dell_entry,
        topic_prefix="servers",
        hostname="r730",
        breaker_settings=FAST_BREAKER,
    )
    mirror.publish_metrics(metrics_snapshot())
    await mirror.async_stop()
    assert not fake_publish.calls


@pytest.mark.parametrize(
    ("prefix", "hostname"), [("servers", "a/b"), ("#", "r730"), ("", "r730")]
)
def test_invalid_topic_segments_are_refused(
    hass: HomeAssistant, dell_entry: MockConfigEntry, prefix: str, hostname: str
) -> None:
    with pytest.raises(ValueError, match="topic segment"):
        MqttMirror(
            hass,
            dell_entry,
            topic_prefix=prefix,
            hostname=hostname,
            breaker_settings=FAST_BREAKER,
        )


async def test_without_mqtt_a_repair_issue_is_raised_and_publishing_fails_quietly(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    dell_entry: MockConfigEntry,
    mirror_factory: MirrorFactory,
) -> None:
    mirror = await mirror_factory()
    issue = issue_registry.async_get_issue(
        DOMAIN, f"mqtt_not_configured_{dell_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "mqtt_not_configured"
    assert issue.translation_placeholders == {"title": "PowerEdge R730"}
    assert issue.severity is ir.IssueSeverity.WARNING

    for _ in range(4):
        mirror.publish_metrics(metrics_snapshot())  # HA raises at once: no MQTT entry
    assert mirror.breaker.state is BreakerState.OPEN
    assert "mqtt_not_setup_cannot_publish" in mirror.diagnostics()["last_publish_error"]

    async_delete_mqtt_issue(hass, dell_entry)
    assert not issue_registry.issues


@pytest.mark.usefixtures("fake_publish")
async def test_first_successful_publish_clears_the_repair_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, mirror_factory: MirrorFactory
) -> None:
    mirror = await mirror_factory()
    assert issue_registry.issues  # no MQTT entry when the mirror started

    mirror.publish_metrics(
        metrics_snapshot()
    )  # MQTT set up since: the publish goes through
    await hass.async_block_till_done()

    assert mirror.breaker.successes == 1
    assert not issue_registry.issues
