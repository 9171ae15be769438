"""Topic segments, hostname defaults and the documented payload schema (docs/mqtt.md)."""

from __future__ import annotations

import json

import pytest

from custom_components.dell_fan_control.mqtt_payload import (
    ServerState,
    StatusSnapshot,
    build_metrics_payload,
    build_status_payload,
    default_hostname,
    server_topic,
    slugify_hostname,
    validate_topic_segment,
)

from .common import POLLED_AT, metrics_snapshot


@pytest.mark.parametrize(
    "segment", ["r730", "r730.lab.example", "PowerEdge R730", "rack-1_u4"]
)
def test_valid_topic_segments_pass_unchanged(segment: str) -> None:
    assert validate_topic_segment(segment) == segment


@pytest.mark.parametrize(
    "segment",
    ["", " ", " r730", "r730 ", "a+b", "+", "a#", "#", "a/b", "/", "$SYS", "a\x00b"],
)
def test_invalid_topic_segments_raise_value_error(segment: str) -> None:
    with pytest.raises(ValueError, match="topic segment"):
        validate_topic_segment(segment)


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("PowerEdge R730 (lab)", "poweredge-r730-lab"),
        ("  Büro / R640 #2  ", "buro-r640-2"),
        ("r730", "r730"),
    ],
)
def test_slugify_hostname(title: str, slug: str) -> None:
    assert slugify_hostname(title) == slug


@pytest.mark.parametrize(
    ("system_name", "title", "hostname"),
    [
        ("r730.lab.example", "PowerEdge R730", "r730.lab.example"),
        ("  r730  ", "PowerEdge R730", "r730"),
        ("", "PowerEdge R730", "poweredge-r730"),
        (None, "PowerEdge R730", "poweredge-r730"),
        ("bad/name", "PowerEdge R730", "poweredge-r730"),
    ],
)
def test_default_hostname_prefers_the_bmc_system_name(
    system_name: str | None, title: str, hostname: str
) -> None:
    assert default_hostname(system_name, title) == hostname


def test_default_hostname_without_any_usable_name_raises() -> None:
    with pytest.raises(ValueError, match="topic segment"):
        default_hostname(None, "###")


def test_server_topic() -> None:
    assert server_topic("servers", "r730", "metrics") == "servers/r730/metrics"


def test_metrics_payload_schema() -> None:
    payload = build_metrics_payload("r730", metrics_snapshot())
    assert " " not in payload  # compact: one line per message for log-based consumers
    assert json.loads(payload) == {
        "schema": 1,
        "timestamp": "2026-10-20T12:00:05+00:00",
        "hostname": "r730",
        "temperatures_c": {
            "cpu1_temperature": 55.0,
            "cpu2_temperature": 51.0,
            "inlet_temperature": 22.0,
        },
        "fan_speeds_rpm": {"fan1": 3600, "fan2": 3480},
        "power_w": 182.0,
        "fan_command_percent": 25,
        "mode": "curve",
        "control_temperature_c": 55.0,
    }


def test_metrics_payload_publishes_missing_and_non_finite_readings_as_null() -> None:
    payload = build_metrics_payload(
        "r730",
        metrics_snapshot(
            temperatures_c={"cpu1_temperature": float("nan"), "cpu2_temperature": None},
            fan_speeds_rpm={"fan1": float("inf")},
            power_w=None,
            fan_command_percent=None,
            mode="auto",
            control_temperature_c=float("-inf"),
        ),
    )
    decoded = json.loads(payload)
    assert decoded["temperatures_c"] == {
        "cpu1_temperature": None,
        "cpu2_temperature": None,
    }
    assert decoded["fan_speeds_rpm"] == {"fan1": None}
    assert decoded["power_w"] is None
    assert decoded["fan_command_percent"] is None
    assert decoded["control_temperature_c"] is None


@pytest.mark.parametrize("state", list(ServerState))
def test_status_payload_schema(state: ServerState) -> None:
    status = StatusSnapshot(state=state, mode="curve", last_error="BMC timeout")
    assert json.loads(build_status_payload("r730", status, "closed", POLLED_AT)) == {
        "schema": 1,
        "timestamp": "2026-10-20T12:00:05+00:00",
        "hostname": "r730",
        "state": state.value,
        "mode": "curve",
        "breaker": "closed",
        "last_error": "BMC timeout",
    }
