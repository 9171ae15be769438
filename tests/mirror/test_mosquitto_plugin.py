"""The broker fixture itself: each level accepts its own client, refuses one that lacks its requirement."""

from __future__ import annotations

from dataclasses import dataclass, replace
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
import pytest

from tests.plugins.mosquitto import MosquittoBroker, MosquittoFactory, MosquittoLevel

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("level", list(MosquittoLevel))
async def test_broker_level_accepts_its_client(
    mosquitto_factory: MosquittoFactory, level: MosquittoLevel
) -> None:
    broker = mosquitto_factory(level)
    first = broker.subscribe("probe/#")
    first.publish("probe/retained", b"kept", retain=True)
    await first.wait_for("probe/retained")
    late = broker.subscribe("probe/#")
    message = await late.wait_for("probe/retained")
    assert message.retain
    assert message.payload == b"kept"


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSetup:
    """What a test client brings to the broker."""

    password: bool
    ca_cert: Path | None  # None: plain TCP
    client_cert: bool


def connection_accepted(broker: MosquittoBroker, setup: ClientSetup) -> bool:
    """Connect once with paho, no thread, and report whether the broker accepted us."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    if setup.password:
        client.username_pw_set(broker.username, broker.password)
    if setup.ca_cert is not None:
        client.tls_set(
            ca_certs=str(setup.ca_cert),
            certfile=str(broker.pki.client_cert) if setup.client_cert else None,
            keyfile=str(broker.pki.client_key) if setup.client_cert else None,
        )
    results: list[bool] = []
    client.on_connect = lambda *args: results.append(not args[3].is_failure)
    try:
        client.connect(broker.host, broker.port)
        deadline = time.monotonic() + 2
        while not results and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != paho.MQTT_ERR_SUCCESS:
                return False
    except OSError:  # ssl.SSLError included: handshake refused by either side
        return False
    finally:
        client.disconnect()
    return results == [True]


@pytest.mark.parametrize(
    ("level", "missing"),
    [
        (MosquittoLevel.PASSWORD, "password"),
        (MosquittoLevel.TLS, "tls"),
        (MosquittoLevel.TLS, "trusted_ca"),
        (MosquittoLevel.MUTUAL_TLS, "client_cert"),
    ],
)
def test_broker_level_refuses_a_client_without_its_requirement(
    mosquitto_factory: MosquittoFactory, level: MosquittoLevel, missing: str
) -> None:
    broker = mosquitto_factory(level)
    complete = ClientSetup(
        password=level.requires_password,
        ca_cert=broker.pki.ca_cert if level.uses_tls else None,
        client_cert=level.requires_client_certificate,
    )
    assert connection_accepted(broker, complete)
    lacking = {
        "password": replace(complete, password=False),
        "tls": replace(complete, ca_cert=None),
        "trusted_ca": replace(complete, ca_cert=broker.pki.untrusted_ca_cert),
        "client_cert": replace(complete, client_cert=False),
    }[missing]
    assert not connection_accepted(broker, lacking)
