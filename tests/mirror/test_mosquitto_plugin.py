"""The broker fixture itself: every level accepts its own client and replays retained messages."""

from __future__ import annotations

import pytest

from tests.plugins.mosquitto import MosquittoFactory, MosquittoLevel


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
