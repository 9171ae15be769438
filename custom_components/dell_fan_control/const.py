"""Constants for the Dell PowerEdge fan control integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "dell_fan_control"
LOGGER = logging.getLogger(__package__)

CONF_CIPHER_SUITE: Final = "cipher_suite"
CIPHER_SUITE_AUTO: Final = "auto"
CIPHER_SUITES: Final = [CIPHER_SUITE_AUTO, "17", "3"]
SECTION_ADVANCED: Final = "advanced"

# Seconds to wait for each IPMI answer (the client retries once): long enough for a busy
# iDRAC, short enough that a dead one fails a poll well inside the poll interval.
IPMI_TIMEOUT: Final = 2.0

# Fan entity presets.
PRESET_AUTO: Final = "auto"  # Dell automatic: the iDRAC runs its own curve
PRESET_CURVE: Final = "curve"  # our curve, computed in Home Assistant
PRESET_MANUAL: Final = "manual"  # a fixed percentage set by the user

EVENT_FAILSAFE: Final = f"{DOMAIN}_failsafe"
