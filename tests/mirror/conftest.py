"""Fixtures for the MQTT mirror tests."""

from tests.plugins.mosquitto import mosquitto_factory, mosquitto_pki

__all__ = ["mosquitto_factory", "mosquitto_pki"]
