"""pytest fixtures that run poweredge_sim, a virtual iDRAC, on 127.0.0.1.

`poweredge_sim` is a running R730 with user root / password calvin;
`poweredge_sim_factory(model=..., **kwargs)` starts more (any
`SimulatedIdrac` keyword). All are stopped and their threads joined at
teardown, before Home Assistant's leftover-thread check runs.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from poweredge_sim import SimulatedIdrac

SimFactory = Callable[..., SimulatedIdrac]


@pytest.fixture
def poweredge_sim_factory(socket_enabled: None) -> Generator[SimFactory]:
    """Start simulators on ephemeral ports; stop them all at teardown."""
    started: list[SimulatedIdrac] = []

    def start(model: str = "r730", **kwargs: Any) -> SimulatedIdrac:
        sim = SimulatedIdrac(model, **kwargs).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def poweredge_sim(poweredge_sim_factory: SimFactory) -> SimulatedIdrac:
    """A running R730 simulator (root / calvin) on an ephemeral 127.0.0.1 port."""
    return poweredge_sim_factory("r730")
