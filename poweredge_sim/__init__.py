"""poweredge_sim: a virtual Dell PowerEdge iDRAC over real UDP RMCP+.

Independent of the integration's client on purpose: nothing here may be
imported from or shared with `custom_components/`.
"""

from .bmc import Counters, OemLogEntry, SessionInfo
from .faults import Faults
from .models import MODELS, ModelSpec, SensorKind, SensorSpec
from .simulator import SimulatedIdrac

__all__ = [
    "MODELS",
    "Counters",
    "Faults",
    "ModelSpec",
    "OemLogEntry",
    "SensorKind",
    "SensorSpec",
    "SessionInfo",
    "SimulatedIdrac",
]
