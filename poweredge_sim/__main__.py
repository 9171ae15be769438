"""Command line: run a simulator, or control a running one.

python -m poweredge_sim --model r730 --port 16230 --control-port 16231
python -m poweredge_sim ctl --control-port 16231 --load 0.9
python -m poweredge_sim ctl --control-port 16231 state
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
import json
import signal
import sys
import threading
from typing import Any
from urllib.error import HTTPError, URLError

from .control import ControlServer, request
from .models import MODELS
from .simulator import SimulatedIdrac


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poweredge_sim",
        description="Run a virtual Dell iDRAC (IPMI-LAN, RMCP+) until Ctrl-C or SIGTERM.",
        epilog="Control a running simulator with: python -m poweredge_sim ctl --help",
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="r730")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "--port", type=int, default=16230, help="UDP port, 0 = any free"
    )
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="calvin")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="server s per real s"
    )
    parser.add_argument(
        "--control-port",
        type=int,
        help="TCP port of the JSON control endpoint, 0 = any free",
    )
    parser.add_argument(
        "--ambient", type=float, default=24.0, help="inlet temperature, C"
    )
    parser.add_argument("--load", type=float, default=0.2, help="CPU load 0.0-1.0")
    parser.add_argument(
        "--system-name", help="Get System Info System Name (default <model>-sim)"
    )
    parser.add_argument("--max-sessions", type=int, default=5)
    parser.add_argument(
        "--session-timeout", type=float, default=60.0, help="idle seconds"
    )
    parser.add_argument(
        "--revert-manual-after",
        type=float,
        help="server seconds after which the iDRAC silently returns to automatic fans",
    )
    parser.add_argument("--seed", type=int, help="seed for RPM noise and fault dice")
    return parser


def _ctl_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poweredge_sim ctl",
        description="Change a running simulator and print its state as JSON.",
    )
    parser.add_argument(
        "what", nargs="?", choices=["state"], help="only print the state"
    )
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--load", type=float)
    parser.add_argument("--ambient", type=float)
    parser.add_argument("--power", choices=["on", "off"])
    parser.add_argument("--advance", type=float, help="jump server time by seconds")
    parser.add_argument("--system-name")
    parser.add_argument("--clear-faults", action="store_true")
    parser.add_argument("--drop-rate", type=float)
    parser.add_argument("--delay", type=float, help="reply delay, real seconds")
    parser.add_argument("--garbage-rate", type=float)
    parser.add_argument("--truncate-rate", type=float)
    parser.add_argument("--session-table-full", choices=["on", "off"])
    parser.add_argument(
        "--sdr-read-limit",
        metavar="BYTES|none",
        help="Get SDR asking for more bytes answers 0xCA; 'none' removes the limit",
    )
    parser.add_argument(
        "--completion-code",
        nargs=3,
        metavar=("NETFN", "CMD", "CODE"),
        help="answer NETFN CMD with CODE (e.g. 0x30 0x30 0xd4); CODE 'none' removes it",
    )
    parser.add_argument("--restart-bmc", type=float, metavar="DOWNTIME")
    parser.add_argument("--disable-sensor")
    parser.add_argument("--enable-sensor")
    return parser


def _ctl_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {
        name: getattr(args, name)
        for name in ("load", "ambient", "advance", "system_name", "restart_bmc")
        if getattr(args, name) is not None
    }
    for name in ("disable_sensor", "enable_sensor"):
        if (value := getattr(args, name)) is not None:
            changes[name] = int(value, 0) if value[:1].isdigit() else value
    if args.power is not None:
        changes["power"] = args.power == "on"
    if args.clear_faults:
        changes["clear_faults"] = True
    faults = {
        name: getattr(args, name)
        for name in ("drop_rate", "delay", "garbage_rate", "truncate_rate")
        if getattr(args, name) is not None
    }
    if args.session_table_full is not None:
        faults["session_table_full"] = args.session_table_full == "on"
    if args.sdr_read_limit is not None:
        limit = args.sdr_read_limit
        faults["sdr_read_limit"] = None if limit.lower() == "none" else int(limit, 0)
    if faults:
        changes["faults"] = faults
    if args.completion_code is not None:
        netfn, command, code = args.completion_code
        changes["completion_code"] = {
            "netfn": int(netfn, 0),
            "command": int(command, 0),
            "code": None if code.lower() == "none" else int(code, 0),
        }
    return changes


def ctl(argv: list[str]) -> int:
    """Apply changes to (or just read) a running simulator; print its state."""
    args = _ctl_parser().parse_args(argv)
    try:
        state = request(args.control_port, _ctl_changes(args), host=args.host)
    except HTTPError as err:
        print(err.read().decode(), file=sys.stderr)
        return 2
    except URLError as err:
        print(
            f"no simulator control endpoint on port {args.control_port}: {err}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(state, indent=2))
    return 0


def serve(argv: list[str]) -> int:
    """Run one simulator (and its control endpoint) until SIGINT or SIGTERM."""
    args = _serve_parser().parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    sim = SimulatedIdrac(
        args.model,
        user=args.user,
        password=args.password,
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        ambient=args.ambient,
        load=args.load,
        system_name=args.system_name,
        max_sessions=args.max_sessions,
        session_timeout=args.session_timeout,
        revert_manual_after=args.revert_manual_after,
        seed=args.seed,
    )
    with ExitStack() as running:
        running.enter_context(sim)
        line = f"poweredge_sim {args.model} ipmi={sim.host}:{sim.port}"
        if args.control_port is not None:
            control = running.enter_context(
                ControlServer(sim, args.host, args.control_port)
            )
            line += f" control={args.host}:{control.port}"
        print(line, flush=True)
        while not stop.wait(0.5):
            pass
    print("poweredge_sim stopped", flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Dispatch to `ctl` or `serve` (the default)."""
    if argv[:1] == ["ctl"]:
        return ctl(argv[1:])
    return serve(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
