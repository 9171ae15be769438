"""Mirrors one server's metrics and status to MQTT through Home Assistant's MQTT integration.

The coordinator calls :meth:`MqttMirror.publish_metrics` and :meth:`MqttMirror.publish_status`
from its poll. Both return at once: each publish runs as a background task of the config entry,
bounded by a timeout, never awaited by the poll. A circuit breaker skips publishing while the
broker is unreachable, and at most one publish per topic is in flight (newer ones are dropped,
never queued), so a dead broker cannot slow fan control or grow memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Final, Protocol

from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .breaker import (
    BreakerSettings,
    BreakerSnapshot,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    TransitionCause,
)
from .const import DOMAIN, LOGGER
from .mqtt_payload import (
    METRICS_LEAF,
    STATUS_LEAF,
    MetricsSnapshot,
    ServerState,
    StatusSnapshot,
    build_metrics_payload,
    build_status_payload,
    server_topic,
    validate_topic_segment,
)

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

DEFAULT_PUBLISH_TIMEOUT: Final = 5.0
"""Seconds; qos 0 completes once the packet is written, so only a stalled socket gets near it."""
TELEMETRY_QOS: Final = 0
"""qos >= 1 without an ack makes HA wait 10 s and then return without raising: useless here."""
MQTT_NOT_CONFIGURED_ISSUE: Final = "mqtt_not_configured"


class _MqttPublish(Protocol):
    """``homeassistant.components.mqtt.async_publish``, imported when the mirror starts."""

    def __call__(
        self, hass: HomeAssistant, topic: str, payload: str, qos: int, retain: bool
    ) -> Awaitable[None]: ...


def _issue_id(entry: ConfigEntry) -> str:
    return f"{MQTT_NOT_CONFIGURED_ISSUE}_{entry.entry_id}"


async def async_check_mqtt_configured(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Whether HA's MQTT integration is set up; raises or clears the entry's repair issue.

    Waits while MQTT is still being set up. The issue is not fixable from the UI: the user sets up
    MQTT (or turns mirroring off); the mirror clears the issue at its first successful publish.
    """
    # Imported here: MQTT is an optional after_dependency, needed only by entries that mirror.
    from homeassistant.components import mqtt

    if await mqtt.async_wait_for_mqtt_client(hass):
        ir.async_delete_issue(hass, DOMAIN, _issue_id(entry))
        return True
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(entry),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=MQTT_NOT_CONFIGURED_ISSUE,
        translation_placeholders={"title": entry.title},
    )
    return False


def async_delete_mqtt_issue(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Clear the repair issue, for when mirroring is turned off or the entry is removed."""
    ir.async_delete_issue(hass, DOMAIN, _issue_id(entry))


class MqttMirror:
    """Publishes ``<prefix>/<hostname>/metrics`` and the retained ``<prefix>/<hostname>/status``."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        topic_prefix: str,
        hostname: str,
        breaker_settings: BreakerSettings,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        """Prepare a mirror; nothing is published before :meth:`async_start`.

        Raises:
            ValueError: topic_prefix or hostname is not a valid topic segment.
        """
        self._hass = hass
        self._entry = entry
        self._hostname = validate_topic_segment(hostname)
        prefix = validate_topic_segment(topic_prefix)
        self.metrics_topic = server_topic(prefix, hostname, METRICS_LEAF)
        self.status_topic = server_topic(prefix, hostname, STATUS_LEAF)
        self._publish_timeout = publish_timeout
        self._breaker = CircuitBreaker(
            breaker_settings, on_transition=self._log_transition
        )
        self._mqtt_publish: _MqttPublish | None = None
        self._in_flight: set[str] = set()
        self._status: StatusSnapshot | None = None
        self._delivered_status: StatusSnapshot | None = None
        self._dropped_in_flight = 0
        self._last_publish_error: str | None = None
        self._mqtt_issue_raised = False

    @property
    def breaker(self) -> BreakerSnapshot:
        """Breaker state and counters, for the diagnostic sensor."""
        return self._breaker.snapshot()

    def diagnostics(self) -> dict[str, Any]:
        """Topics, breaker and drop counters, last publish error; no secrets involved."""
        return {
            "metrics_topic": self.metrics_topic,
            "status_topic": self.status_topic,
            "breaker": asdict(self._breaker.snapshot()),
            "in_flight": sorted(self._in_flight),
            "dropped_in_flight": self._dropped_in_flight,
            "last_publish_error": self._last_publish_error,
        }

    async def async_start(self) -> bool:
        """Import MQTT, follow its connection state until the entry unloads, check it is set up.

        Returns whether MQTT is set up. The mirror runs either way: while MQTT is missing every
        publish fails at once and the breaker opens; the first publish that goes through once
        MQTT works clears the repair issue.
        """
        # Lazy, like async_check_mqtt_configured.
        from homeassistant.components import mqtt

        self._mqtt_publish = mqtt.async_publish
        self._entry.async_on_unload(
            mqtt.async_subscribe_connection_status(
                self._hass, self._async_connection_changed
            )
        )
        configured = await async_check_mqtt_configured(self._hass, self._entry)
        self._mqtt_issue_raised = not configured
        return configured

    async def async_stop(self) -> None:
        """Publish the retained ``offline`` status (bounded by the timeout); later calls do nothing."""
        if (publish := self._mqtt_publish) is None:
            return
        self._mqtt_publish = None
        offline = StatusSnapshot(
            state=ServerState.OFFLINE, mode=self._status.mode if self._status else None
        )
        if self._breaker.allow():
            await self._async_publish(
                publish, self.status_topic, self._status_payload(offline), retain=True
            )

    def publish_metrics(self, metrics: MetricsSnapshot) -> None:
        """Publish one poll's metrics; returns at once and never raises."""
        self._dispatch(
            self.metrics_topic, lambda: build_metrics_payload(self._hostname, metrics)
        )

    def publish_status(self, status: StatusSnapshot) -> None:
        """Give the current status every poll; it is published when it differs from the delivered one.

        A status dropped or lost (publish in flight, breaker open, broker restarted) is therefore
        sent again by a later call, without any queue.
        """
        self._status = status
        if status != self._delivered_status:
            self._dispatch_status(status)

    def _dispatch_status(self, status: StatusSnapshot) -> None:
        def delivered() -> None:
            self._delivered_status = status

        self._dispatch(
            self.status_topic,
            lambda: self._status_payload(status),
            retain=True,
            on_delivered=delivered,
        )

    def _status_payload(self, status: StatusSnapshot) -> str:
        return build_status_payload(
            self._hostname, status, self._breaker.state, dt_util.utcnow()
        )

    def _dispatch(
        self,
        topic: str,
        payload: Callable[[], str],
        *,
        retain: bool = False,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        """Start a publish task unless stopped, one is in flight on topic, or the breaker refuses."""
        if (publish := self._mqtt_publish) is None:
            return
        if topic in self._in_flight:
            self._dropped_in_flight += 1
            return
        if not self._breaker.allow():
            return
        self._in_flight.add(topic)
        self._entry.async_create_background_task(
            self._hass,
            self._async_publish(
                publish, topic, payload(), retain=retain, on_delivered=on_delivered
            ),
            f"{DOMAIN} MQTT publish {topic}",
        )

    async def _async_publish(
        self,
        publish: _MqttPublish,
        topic: str,
        payload: str,
        *,
        retain: bool,
        on_delivered: Callable[[], None] | None = None,
    ) -> None:
        """Publish once and report the outcome to the breaker; a trial that succeeds resends the status."""
        try:
            async with asyncio.timeout(self._publish_timeout):
                await publish(self._hass, topic, payload, TELEMETRY_QOS, retain)
        except (HomeAssistantError, TimeoutError) as err:
            self._last_publish_error = f"{topic}: {err!r}"
            self._breaker.record_failure()
            return
        except BaseException:
            # A bug or a cancellation still ends the attempt: a trial never reported would leave
            # the breaker half-open for good.
            self._breaker.record_failure()
            raise
        finally:
            self._in_flight.discard(topic)
        recovering = self._breaker.state is BreakerState.HALF_OPEN
        self._breaker.record_success()
        if on_delivered is not None:
            on_delivered()
        if self._mqtt_issue_raised:
            self._mqtt_issue_raised = False
            async_delete_mqtt_issue(self._hass, self._entry)
        if recovering and self._status is not None:
            self._dispatch_status(self._status)

    def _async_connection_changed(self, connected: bool) -> None:
        """HA's MQTT connection state: a drop opens the breaker, a reconnect makes the next publish the trial."""
        if not connected:
            # A restarted broker without persistence has forgotten the retained status.
            self._delivered_status = None
        self._breaker.on_broker_connection(connected)

    def _log_transition(self, transition: BreakerTransition) -> None:
        """Log once when mirroring stops and once when it resumes; failed retries only at debug."""
        match transition.previous, transition.state:
            case BreakerState.CLOSED, BreakerState.OPEN:
                if transition.cause is TransitionCause.BROKER_DISCONNECTED:
                    LOGGER.warning(
                        "MQTT mirror of %s paused: Home Assistant lost the MQTT broker",
                        self._entry.title,
                    )
                else:
                    LOGGER.warning(
                        "MQTT mirror of %s paused after repeated publish failures, last: %s",
                        self._entry.title,
                        self._last_publish_error,
                    )
            case _, BreakerState.CLOSED:
                LOGGER.info("MQTT mirror of %s resumed", self._entry.title)
            case _:
                LOGGER.debug(
                    "MQTT mirror of %s breaker %s -> %s (%s)",
                    self._entry.title,
                    transition.previous,
                    transition.state,
                    transition.cause,
                )
