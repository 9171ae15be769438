"""Out-of-process control: a small JSON-over-HTTP endpoint on loopback.

`GET /state` returns `SimulatedIdrac.state()`; `POST /control` takes a JSON
object of changes (see `CONTROLS`) and returns the new state. This lets
`scripts/develop`, benchmarks and other processes drive a simulator started
with `python -m poweredge_sim --control-port P`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
import json
import logging
import threading
from typing import Any, Self
from urllib.request import Request, urlopen

from .service import Service
from .simulator import SimulatedIdrac

_LOGGER = logging.getLogger(__name__)


def _completion_code(sim: SimulatedIdrac, value: Mapping[str, Any]) -> None:
    code = value["code"]
    sim.override_completion_code(
        int(value["netfn"]), int(value["command"]), None if code is None else int(code)
    )


def _clear_faults(sim: SimulatedIdrac, value: object) -> None:
    if value:
        sim.clear_faults()


# Control name -> how to apply its JSON value.
CONTROLS: dict[str, Callable[[SimulatedIdrac, Any], None]] = {
    "load": lambda sim, value: sim.set_load(float(value)),
    "ambient": lambda sim, value: sim.set_ambient(float(value)),
    "power": lambda sim, value: sim.set_power(bool(value)),
    "advance": lambda sim, value: sim.advance(float(value)),
    "system_name": lambda sim, value: setattr(sim, "system_name", str(value)),
    "clear_faults": _clear_faults,
    "faults": lambda sim, value: sim.set_faults(**value),
    "completion_code": _completion_code,
    "restart_bmc": lambda sim, value: sim.restart_bmc(float(value)),
    "disable_sensor": lambda sim, value: sim.disable_sensor(value),
    "enable_sensor": lambda sim, value: sim.enable_sensor(value),
}


def apply_controls(sim: SimulatedIdrac, changes: Mapping[str, Any]) -> None:
    """Apply changes in the order of `CONTROLS` (clear_faults before faults)."""
    unknown = set(changes) - set(CONTROLS)
    if unknown:
        raise ValueError(
            f"unknown controls {sorted(unknown)}; known: {sorted(CONTROLS)}"
        )
    for name, action in CONTROLS.items():
        if name in changes:
            action(sim, changes[name])


class _ControlHTTPServer(HTTPServer):
    def __init__(self, address: tuple[str, int], sim: SimulatedIdrac) -> None:
        super().__init__(address, _ControlHandler)
        self.sim = sim


class _ControlHandler(BaseHTTPRequestHandler):
    server: _ControlHTTPServer

    def do_GET(self) -> None:
        if self.path != "/state":
            self._reply(
                HTTPStatus.NOT_FOUND, {"error": "try GET /state or POST /control"}
            )
            return
        self._reply(HTTPStatus.OK, self.server.sim.state())

    def do_POST(self) -> None:
        if self.path != "/control":
            self._reply(
                HTTPStatus.NOT_FOUND, {"error": "try GET /state or POST /control"}
            )
            return
        try:
            apply_controls(self.server.sim, self._json_body())
        except (ValueError, KeyError, TypeError) as err:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(err)})
            return
        self._reply(HTTPStatus.OK, self.server.sim.state())

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        return body

    def _reply(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        _LOGGER.debug("control: %s", format % args)


class ControlServer(Service):
    """Serves the control endpoint for one simulator on its own thread."""

    def __init__(
        self, sim: SimulatedIdrac, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._server = _ControlHTTPServer((host, port), sim)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """Return the TCP port of the endpoint."""
        return int(self._server.server_address[1])

    def start(self) -> Self:
        """Start serving requests."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"poweredge-sim-control-{self.port}"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, join the thread and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


def request(
    port: int, changes: Mapping[str, Any] | None = None, host: str = "127.0.0.1"
) -> dict[str, Any]:
    """Client side: read the state, or apply changes; return the new state."""
    url = f"http://{host}:{port}/control" if changes else f"http://{host}:{port}/state"
    data = json.dumps(changes).encode() if changes else None
    headers = {"Content-Type": "application/json"}
    with urlopen(Request(url, data=data, headers=headers), timeout=10) as response:  # noqa: S310 - http on loopback only
        state: dict[str, Any] = json.load(response)
    return state
