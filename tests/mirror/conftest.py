"""Fixtures for the MQTT mirror: real brokers, HA's MQTT entry pointed at them, and mirrors."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import tempfile
from typing import TYPE_CHECKING, Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dell_fan_control.const import DOMAIN
from custom_components.dell_fan_control.mirror import MqttMirror
from tests.plugins.mosquitto import MosquittoBroker

from .common import FAST_BREAKER, HOSTNAME, MirrorFactory, MqttEntryFactory

if TYPE_CHECKING:
    from pathlib import Path

    from homeassistant.core import HomeAssistant


def mqtt_entry_data(broker: MosquittoBroker) -> dict[str, Any]:
    """HA 2026.10 MQTT entry data (version 2.1) that connects to broker at its level.

    Certificates are PEM text, as the MQTT config flow stores them; protocol "5" skips the
    migration probe that entries without a protocol get.
    """
    data: dict[str, Any] = {"broker": broker.host, "port": broker.port, "protocol": "5"}
    if broker.level.requires_password:
        data |= {"username": broker.username, "password": broker.password}
    if broker.level.uses_tls:
        data["certificate"] = broker.pki.ca_cert.read_text(encoding="utf-8")
    if broker.level.requires_client_certificate:
        data |= {
            "client_cert": broker.pki.client_cert.read_text(encoding="utf-8"),
            "client_key": broker.pki.client_key.read_text(encoding="utf-8"),
        }
    return data


@pytest.fixture
async def mqtt_entry_factory(
    hass: HomeAssistant,
    mock_hass_config: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncGenerator[MqttEntryFactory]:
    """Set up HA's MQTT integration against a broker; ``**changes`` override the entry data.

    Unloaded at teardown (after the mirror has stopped), which disconnects paho and cancels
    HA's reconnect loop.
    """
    # HA writes the entry's certificates to <tempdir>/home-assistant-mqtt: keep them per test.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # HA retries a lost broker every 10 s; recovery tests would wait that long.
    monkeypatch.setattr(
        "homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 0.1
    )
    entries: list[MockConfigEntry] = []

    async def set_up(broker: MosquittoBroker, **changes: Any) -> MockConfigEntry:
        entry = MockConfigEntry(
            domain="mqtt",
            data=mqtt_entry_data(broker) | changes,
            options={"discovery": False, "birth_message": {}, "will_message": {}},
            version=2,
            minor_version=1,
        )
        entry.add_to_hass(hass)
        entries.append(entry)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        return entry

    yield set_up
    for entry in entries:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
def dell_entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry of ours, never set up: the mirror only needs it for background tasks and issues."""
    entry = MockConfigEntry(domain=DOMAIN, title="PowerEdge R730", unique_id="SVCTAG1")
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def mirror_factory(
    hass: HomeAssistant,
    dell_entry: MockConfigEntry,
    mqtt_entry_factory: MqttEntryFactory,
) -> AsyncGenerator[MirrorFactory]:
    """Start mirrors for dell_entry; stopped at teardown, before the MQTT entry is unloaded."""
    mirrors: list[MqttMirror] = []

    async def start(**changes: Any) -> MqttMirror:
        settings: dict[str, Any] = {
            "topic_prefix": "servers",
            "hostname": HOSTNAME,
            "breaker_settings": FAST_BREAKER,
        }
        mirror = MqttMirror(hass, dell_entry, **(settings | changes))
        mirrors.append(mirror)
        await mirror.async_start()
        return mirror

    yield start
    for mirror in mirrors:
        await mirror.async_stop()
    await hass.async_block_till_done()
