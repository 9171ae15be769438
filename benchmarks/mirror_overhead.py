"""What a poll pays for MQTT mirroring: the time ``MqttMirror.publish_metrics`` takes to return.

Not a test: a Home Assistant test instance (no debug loop) with HA's MQTT integration connected
to a real mosquitto on 127.0.0.1, and a mirror of a two-socket R730. Prints the median and p99
of the call with the broker up, with the broker down (breaker open), and, for comparison, the
round trip a poll would wait for if it awaited ``mqtt.async_publish`` itself.

    scripts/run python -m benchmarks.mirror_overhead [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
import statistics
import tempfile
import time

from homeassistant.components import mqtt
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.dell_fan_control.breaker import BreakerSettings, BreakerState
from custom_components.dell_fan_control.const import DOMAIN
from custom_components.dell_fan_control.mirror import MqttMirror
from custom_components.dell_fan_control.mqtt_payload import ServerState, StatusSnapshot
from tests.mirror.common import metrics_snapshot
from tests.plugins.mosquitto import MosquittoBroker, MosquittoLevel, create_pki


def _summary(label: str, seconds: list[float]) -> str:
    micro = sorted(value * 1e6 for value in seconds)
    p99 = micro[int(len(micro) * 0.99) - 1]
    return f"{label:<44} median {statistics.median(micro):7.1f} µs   p99 {p99:7.1f} µs"


async def _time_calls(
    calls: int, call: Callable[[], object], settle: Callable[[], Awaitable[None]]
) -> list[float]:
    """Time each call alone; settle (not timed) lets the previous publish finish, as a poll interval would.

    Calls are therefore as cold as a real poll's (caches and branch predictors see other work
    in between), not a hot loop.
    """
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
        await settle()
    return durations


async def _wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(15):
        while not condition():  # noqa: ASYNC110 - HA's client offers no event for these
            await asyncio.sleep(0.001)


async def _run(calls: int, workdir: Path) -> None:
    broker = MosquittoBroker(
        level=MosquittoLevel.ANONYMOUS, pki=create_pki(workdir), workdir=workdir
    )
    broker.start()
    config_dir = workdir / "config"
    config_dir.mkdir()
    (config_dir / "configuration.yaml").write_text("", encoding="utf-8")
    async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
        try:
            await _measure(hass, broker, calls)
        finally:
            await hass.async_stop(force=True)
            broker.close()


async def _measure(hass: HomeAssistant, broker: MosquittoBroker, calls: int) -> None:
    mqtt_entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": broker.host, "port": broker.port, "protocol": "5"},
        options={"discovery": False, "birth_message": {}, "will_message": {}},
        version=2,
        minor_version=1,
    )
    mqtt_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mqtt_entry.entry_id)
    await _wait_until(lambda: mqtt.is_connected(hass))
    entry = MockConfigEntry(domain=DOMAIN, title="PowerEdge R730")
    entry.add_to_hass(hass)
    mirror = MqttMirror(
        hass,
        entry,
        topic_prefix="servers",
        hostname="r730",
        breaker_settings=BreakerSettings(
            min_retry_seconds=3600, max_retry_seconds=3600
        ),
    )
    await mirror.async_start()
    mirror.publish_status(StatusSnapshot(state=ServerState.ONLINE, mode="curve"))
    metrics = metrics_snapshot()

    async def until_sent() -> None:
        await _wait_until(lambda: not mirror.diagnostics()["in_flight"])

    up = await _time_calls(calls, lambda: mirror.publish_metrics(metrics), until_sent)
    assert mirror.breaker.successes >= calls, mirror.diagnostics()

    async def awaited_publish() -> float:
        started = time.perf_counter()
        await mqtt.async_publish(hass, mirror.metrics_topic, "{}", 0, False)
        return time.perf_counter() - started

    awaited = [await awaited_publish() for _ in range(calls)]

    await hass.async_add_executor_job(broker.stop)
    await _wait_until(lambda: mirror.breaker.state is BreakerState.OPEN)

    async def nothing() -> None:
        return None

    down = await _time_calls(calls, lambda: mirror.publish_metrics(metrics), nothing)
    assert mirror.breaker.skipped >= calls, mirror.diagnostics()

    print(f"Home Assistant {ha_version}, {calls} calls each")
    print(_summary("publish_metrics returns, broker up", up))
    print(_summary("publish_metrics returns, broker down", down))
    print(_summary("awaited mqtt.async_publish, broker up", awaited))
    await mirror.async_stop()
    await hass.config_entries.async_unload(mqtt_entry.entry_id)


def main() -> None:
    """Parse arguments and run the measurement in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mirror-overhead-") as workdir:
        asyncio.run(_run(arguments.calls, Path(workdir)))


if __name__ == "__main__":
    main()
