"""Constants for the Dell PowerEdge fan control integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "dell_fan_control"
LOGGER = logging.getLogger(__package__)
