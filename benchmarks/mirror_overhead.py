"""What a poll pays for MQTT mirroring, and whether a dead broker changes the poll cadence.

Not a test: a Home Assistant test instance (no debug loop) with HA's MQTT integration connected
to a real mosquitto on 127.0.0.1.

1. A mirror of a two-socket R730: the median and p99 of ``MqttMirror.publish_metrics`` with the
   broker up, with the broker down (breaker open), and, for comparison, the round trip a poll
   would wait for if it awaited ``mqtt.async_publish`` itself.
2. The real integration against ``poweredge_sim`` (R730, preset manual 30 %, mirroring on, the
   shortest poll interval the options allow): the time between scheduled polls, each poll's
   duration and the fan commands per poll, with the broker up and then stopped.

    scripts/run python -m benchmarks.mirror_overhead [--calls 2000] [--polls 12]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from itertools import pairwise
from pathlib import Path
import statistics
import tempfile
import time

from homeassistant import loader
from homeassistant.components import mqtt
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.dell_fan_control.breaker import BreakerSettings, BreakerState
from custom_components.dell_fan_control.const import DOMAIN, PRESET_MANUAL
from custom_components.dell_fan_control.coordinator import (
    DellFanCoordinator,
    DellFanData,
)
from custom_components.dell_fan_control.mirror import MqttMirror
from custom_components.dell_fan_control.mqtt_payload import ServerState, StatusSnapshot
from poweredge_sim import SimulatedIdrac
from tests.conftest import sim_entry_data, sim_unique_id
from tests.mirror.common import metrics_snapshot
from tests.plugins.mosquitto import MosquittoBroker, MosquittoLevel, create_pki

POLL_SECONDS = 5  # the options' minimum


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


async def _run(calls: int, polls: int, workdir: Path) -> None:
    broker = MosquittoBroker(
        level=MosquittoLevel.ANONYMOUS, pki=create_pki(workdir), workdir=workdir
    )
    broker.start()
    config_dir = workdir / "config"
    config_dir.mkdir()
    (config_dir / "configuration.yaml").write_text("", encoding="utf-8")
    async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # find ours, not the harness's
        try:
            mqtt_entry = await _connect_mqtt(hass, broker)
            print(f"Home Assistant {ha_version}")
            await _measure_publish(hass, broker, calls)
            await _measure_cadence(hass, broker, polls)
            await hass.config_entries.async_unload(mqtt_entry.entry_id)
        finally:
            await hass.async_stop(force=True)
            broker.close()


async def _connect_mqtt(
    hass: HomeAssistant, broker: MosquittoBroker
) -> MockConfigEntry:
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
    return mqtt_entry


async def _measure_publish(
    hass: HomeAssistant, broker: MosquittoBroker, calls: int
) -> None:
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

    print(f"1. publish_metrics, {calls} calls each")
    print(_summary("publish_metrics returns, broker up", up))
    print(_summary("publish_metrics returns, broker down", down))
    print(_summary("awaited mqtt.async_publish, broker up", awaited))
    await mirror.async_stop()
    await hass.config_entries.async_remove(entry.entry_id)  # not one to set up later


async def _measure_cadence(
    hass: HomeAssistant, broker: MosquittoBroker, polls: int
) -> None:
    """Scheduled polls of the real integration, broker up and then stopped."""
    await hass.async_add_executor_job(broker.start)
    await _wait_until(lambda: mqtt.is_connected(hass))
    with SimulatedIdrac("r730") as sim:
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=sim.system_name,
            data=sim_entry_data(sim),
            unique_id=sim_unique_id(sim),
            options={"mirror_enabled": True, "scan_interval": POLL_SECONDS},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        coordinator: DellFanCoordinator = entry.runtime_data
        assert coordinator.mirror is not None
        await coordinator.async_set_preset(PRESET_MANUAL, 30)
        print(f"2. scheduled polls every {POLL_SECONDS} s, {polls} polls each")
        await _scheduled_polls(hass, coordinator, sim, polls, "broker up")
        await hass.async_add_executor_job(broker.stop)
        await _scheduled_polls(hass, coordinator, sim, polls, "broker stopped")
        print(
            f"   breaker after the outage: {coordinator.mirror.breaker.state.value},"
            f" {coordinator.mirror.breaker.skipped} publishes skipped"
        )
        assert await hass.config_entries.async_unload(entry.entry_id)


async def _scheduled_polls(
    hass: HomeAssistant,
    coordinator: DellFanCoordinator,
    sim: SimulatedIdrac,
    polls: int,
    label: str,
) -> None:
    """Let the coordinator's own timer poll; time the gaps between poll starts and each poll.

    Listener callbacks would miss polls: the coordinator skips them when nothing changed.
    """
    loop = hass.loop
    starts: list[float] = []
    durations: list[float] = []
    failed = 0
    enough = asyncio.Event()
    original = coordinator._async_update_data  # noqa: SLF001 - timing the real poll

    async def timed() -> DellFanData:
        nonlocal failed
        started = loop.time()
        starts.append(started)
        try:
            return await original()
        except Exception:
            failed += 1
            raise
        finally:
            durations.append(loop.time() - started)
            if len(durations) > polls:
                enough.set()

    coordinator._async_update_data = timed  # type: ignore[method-assign]  # noqa: SLF001
    commands = len(sim.oem_log)
    try:
        async with asyncio.timeout(polls * POLL_SECONDS * 3):
            await enough.wait()
    finally:
        coordinator._async_update_data = original  # type: ignore[method-assign]  # noqa: SLF001
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    sent = len(sim.oem_log) - commands
    print(
        f"   {label:<15} gap median {statistics.median(gaps):6.3f} s"
        f" (min {min(gaps):6.3f}, max {max(gaps):6.3f});"
        f" poll median {statistics.median(durations) * 1000:5.1f} ms"
        f" (max {max(durations) * 1000:5.1f});"
        f" fan commands {sent / len(durations):.2f}/poll; failed polls {failed}"
    )


def main() -> None:
    """Parse arguments and run the measurement in a temporary directory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=12)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mirror-overhead-") as workdir:
        asyncio.run(_run(arguments.calls, arguments.polls, Path(workdir)))


if __name__ == "__main__":
    main()
