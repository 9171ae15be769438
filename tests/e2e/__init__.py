"""End-to-end: a real `hass` process with mosquitto and simulated PowerEdges (also scripts/develop)."""
