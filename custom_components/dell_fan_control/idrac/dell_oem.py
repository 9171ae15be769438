"""Dell OEM raw commands (NetFn 0x30), as bytes for send_raw (command byte first).

Sources: the peer study §3 (ipmitool forms used by every Dell fan controller).
"""

from __future__ import annotations

NETFN_DELL_OEM = 0x30

MANUAL_MODE = bytes((0x30, 0x01, 0x00))
AUTOMATIC_MODE = bytes((0x30, 0x01, 0x01))

ALL_FANS = 0xFF
# Per-fan ids probed when ALL_FANS is refused (the R510 accepts 0x00-0x07).
FAN_ID_PROBE_RANGE = range(0x20)

# Third-party PCIe card default cooling response: read and write (Gen <= 13).
PCIE_COOLING_GET = bytes((0xCE, 0x01, 0x16, 0x05, 0x00, 0x00, 0x00))
_PCIE_COOLING_SET_PREFIX = bytes((0xCE, 0x00, 0x16, 0x05, 0x00, 0x00, 0x00, 0x05, 0x00))
_PCIE_COOLING_DISABLED = 0x01
_PCIE_COOLING_STATE_OFFSET = 7  # in the answer after the completion code
PCIE_COOLING_ANSWER_LENGTH = _PCIE_COOLING_STATE_OFFSET + 1


def fan_speed(fan_id: int, percent: int) -> bytes:
    """Set one fan (or ALL_FANS) to percent; the caller validated 0-100."""
    return bytes((0x30, 0x02, fan_id, percent))


def set_pcie_cooling(enabled: bool) -> bytes:
    """Turn Dell's default cooling response to third-party PCIe cards on or off."""
    state = 0x00 if enabled else _PCIE_COOLING_DISABLED
    return _PCIE_COOLING_SET_PREFIX + bytes((state, 0x00, 0x00))


def pcie_cooling_enabled(answer: bytes) -> bool:
    """Parse the answer data of PCIE_COOLING_GET: True when Dell's response is on."""
    return answer[_PCIE_COOLING_STATE_OFFSET] != _PCIE_COOLING_DISABLED
