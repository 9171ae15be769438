"""Topics and JSON payloads of the MQTT mirror (schema documented in docs/mqtt.md).

No Home Assistant imports: the options flow validates topic segments with these functions and the
tests check the schema without a running hass.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import json
import math
import re
from typing import TYPE_CHECKING, Final
import unicodedata

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

SCHEMA_VERSION: Final = 1
DEFAULT_TOPIC_PREFIX: Final = "servers"
METRICS_LEAF: Final = "metrics"
STATUS_LEAF: Final = "status"

# '+' and '#' are wildcards and '/' separates levels; NUL is forbidden in any topic; a leading '$'
# makes brokers hide the topic from '#' subscribers ($SYS convention).
_FORBIDDEN_IN_SEGMENT: Final = ("+", "#", "/", "\x00")


class ServerState(StrEnum):
    """The ``state`` of the status payload."""

    ONLINE = "online"
    OFFLINE = "offline"
    FAILSAFE = "failsafe"
    MONITOR_ONLY = "monitor_only"


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSnapshot:
    """One poll's readings, keyed by the client's stable sensor keys; None means no reading."""

    timestamp: datetime
    temperatures_c: Mapping[str, float | None]
    fan_speeds_rpm: Mapping[str, float | None]
    power_w: float | None
    fan_command_percent: int | None  # None while the iDRAC drives the fans
    mode: str
    control_temperature_c: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusSnapshot:
    """What the controller is doing; the mirror adds its breaker state when it publishes."""

    state: ServerState
    mode: (
        str | None
    )  # None: not known yet, e.g. the offline status of a mirror that never polled
    last_error: str | None = None


def validate_topic_segment(segment: str) -> str:
    """Return segment if it can be one level of an MQTT topic name.

    Raises:
        ValueError: empty, surrounded by whitespace, starting with '$', or containing '+', '#',
            '/' or NUL.
    """
    if not segment or segment != segment.strip():
        raise ValueError(
            f"topic segment {segment!r} is empty or has surrounding whitespace"
        )
    if segment.startswith("$"):
        raise ValueError(
            f"topic segment {segment!r} starts with '$', reserved for the broker"
        )
    if any(character in segment for character in _FORBIDDEN_IN_SEGMENT):
        raise ValueError(f"topic segment {segment!r} contains '+', '#', '/' or NUL")
    return segment


def slugify_hostname(title: str) -> str:
    """Lower-case ASCII letters, digits and single hyphens, e.g. 'PowerEdge R730 (lab)' -> 'poweredge-r730-lab'."""
    ascii_title = (
        unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    )
    return re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")


def default_hostname(system_name: str | None, entry_title: str) -> str:
    """The BMC's System Name when it is a usable topic segment, else a slug of the entry title.

    The OS agent (iSM/OMSA) sets System Name; without one the BMC reports an empty string.

    Raises:
        ValueError: neither gives a usable segment (a title with no letters or digits).
    """
    if system_name:
        try:
            return validate_topic_segment(system_name.strip())
        except ValueError:
            pass
    return validate_topic_segment(slugify_hostname(entry_title))


def server_topic(prefix: str, hostname: str, leaf: str) -> str:
    """``<prefix>/<hostname>/<leaf>``; prefix and hostname must already be validated segments."""
    return f"{prefix}/{hostname}/{leaf}"


def _finite_or_none(value: float | None) -> float | None:
    """NaN and infinities are not JSON: publish them as null, like a missing reading."""
    return value if value is not None and math.isfinite(value) else None


def _readings(values: Mapping[str, float | None]) -> dict[str, float | None]:
    return {key: _finite_or_none(value) for key, value in sorted(values.items())}


def _encode(payload: Mapping[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False)


def build_metrics_payload(hostname: str, metrics: MetricsSnapshot) -> str:
    """The compact JSON published on ``<prefix>/<hostname>/metrics`` every poll."""
    return _encode(
        {
            "schema": SCHEMA_VERSION,
            "timestamp": metrics.timestamp.isoformat(),
            "hostname": hostname,
            "temperatures_c": _readings(metrics.temperatures_c),
            "fan_speeds_rpm": _readings(metrics.fan_speeds_rpm),
            "power_w": _finite_or_none(metrics.power_w),
            "fan_command_percent": metrics.fan_command_percent,
            "mode": metrics.mode,
            "control_temperature_c": _finite_or_none(metrics.control_temperature_c),
        }
    )


def build_status_payload(
    hostname: str, status: StatusSnapshot, breaker_state: str, timestamp: datetime
) -> str:
    """The compact JSON retained on ``<prefix>/<hostname>/status``."""
    return _encode(
        {
            "schema": SCHEMA_VERSION,
            "timestamp": timestamp.isoformat(),
            "hostname": hostname,
            "state": status.state.value,
            "mode": status.mode,
            "breaker": breaker_state,
            "last_error": status.last_error,
        }
    )
