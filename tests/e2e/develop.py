"""scripts/develop: Home Assistant with the integration, simulated R730s and mosquitto, on loopback.

    scripts/develop [--servers N] [--port 8123] [--time-scale 10] [--screenshots docs/images]

State lives in the repo's config/ (ignored by git). Every start is a new simulated server (a new
system GUID), so the integration's entries are recreated through the config flow each time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from . import browser
from .stack import (
    DEV_LOGIN,
    LOOPBACK,
    REPO_ROOT,
    Lab,
    StackError,
    add_dell_entry,
    add_mqtt_entry,
    remove_onboarding_entries,
    running_lab,
    set_options,
    wait_until,
)

CONFIG_DIR = REPO_ROOT / "config"
FAN = "fan.r730_sim"  # the first simulated server's fan entity
WORK_DIR = CONFIG_DIR / "develop"  # logs of the broker and the simulators


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Run Home Assistant with this integration against simulated PowerEdges.",
    )
    parser.add_argument(
        "--servers", type=int, default=1, help="simulated R730s (default 1)"
    )
    parser.add_argument(
        "--port", type=int, default=8123, help="Home Assistant's HTTP port"
    )
    parser.add_argument("--mqtt-port", type=int, default=18830, help="mosquitto's port")
    parser.add_argument(
        "--sim-port",
        type=int,
        default=16230,
        help="first simulator's IPMI port; server i uses +2i (IPMI, UDP) and +2i+1 (control)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=10.0,
        help="simulated seconds per real second",
    )
    parser.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="run a load profile, save the README's screenshots to DIR, then stop",
    )
    return parser


def _check_free(port: int, kind: socket.SocketKind, what: str) -> None:
    """Refuse early: HA falls back to 0.0.0.0:8123 when its configured port is taken."""
    with socket.socket(socket.AF_INET, kind) as probe:
        # As servers bind: connections of a previous run in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as err:
            raise StackError(
                f"{what} port {port} is in use ({err}); pick another"
            ) from err


def provision(lab: Lab, *, scan_interval: int | None = None) -> list[str]:
    """MQTT and one entry per simulated server, all through the config flows; returns entry ids."""
    api = lab.api
    for domain in ("dell_fan_control", "mqtt"):
        for entry in api.entries(domain):
            api.delete_entry(entry["entry_id"])
    add_mqtt_entry(api, lab.broker_port)
    options: dict[str, dict[str, Any]] = {"mqtt": {"mirror_enabled": True}}
    if scan_interval is not None:
        options["control"] = {"scan_interval": scan_interval}
    entry_ids = []
    for sim in lab.sims:
        entry_id = add_dell_entry(api, sim)
        set_options(api, entry_id, options)
        entry_ids.append(entry_id)
    remove_onboarding_entries(api)  # onboarding's own flows may have finished only now
    return entry_ids


def banner(lab: Lab) -> str:
    sims = "\n".join(
        f"  r730 #{index + 1}: IPMI 127.0.0.1:{sim.ipmi_port} (root / calvin), load:\n"
        f"    scripts/run python -m poweredge_sim ctl --control-port {sim.control_port} --load 0.9"
        for index, sim in enumerate(lab.sims)
    )
    return (
        f"\nHome Assistant is up (started in {lab.start_seconds:.1f} s): {lab.base_url}/\n"
        f"  login: {DEV_LOGIN[0]} / {DEV_LOGIN[1]}   dashboard: {lab.base_url}/dell-fan-control/server\n"
        f"  log:   tail -f config/home-assistant.log\n"
        f"{sims}\n"
        f"  MQTT:  scripts/run mosquitto_sub -p {lab.broker_port} -t 'servers/#' -v\n"
        "Ctrl-C stops everything.\n"
    )


def take_screenshots(lab: Lab, target: Path) -> None:
    """A few minutes of simulated load changes on the curve, then the pictures for the README."""
    api, sim = lab.api, lab.sims[0]
    api.service("fan", "set_preset_mode", {"entity_id": FAN, "preset_mode": "curve"})
    wait_until(
        lambda: api.state(FAN)["attributes"]["preset_mode"] == "curve",
        "the curve preset",
        30,
    )
    device_id = api.template(f"{{{{ device_id('{FAN}') }}}}")
    with browser.open_page(height=1000) as page:
        browser.log_in(
            page, lab.base_url, *DEV_LOGIN
        )  # first, so a problem shows at once
        # About 9 minutes: most of the dashboard's 15-minute history graphs get filled.
        for load, seconds in ((0.2, 60), (0.95, 180), (0.5, 120), (0.3, 180)):
            sim.control(load=load)
            print(f"load {load:.0%} for {seconds} s", flush=True)
            time.sleep(seconds)
        browser.open_device_page(page, lab.base_url, device_id, "r730-sim")
        browser.settle_and_capture(page, target / "device-page.png")
        page.goto(f"{lab.base_url}/dell-fan-control/server")
        browser.expect_texts(page, ["Fan control", "Temperatures", "Fan speeds"])
        browser.settle_and_capture(page, target / "dashboard.png")
    print(f"screenshots saved in {target}", flush=True)


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # SIGINT too: a parent started in the background may have left it ignored.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    sim_ports = [
        (args.sim_port + 2 * index, args.sim_port + 2 * index + 1)
        for index in range(args.servers)
    ]
    try:
        _check_free(args.port, socket.SOCK_STREAM, "Home Assistant")
        _check_free(args.mqtt_port, socket.SOCK_STREAM, "mosquitto")
        for ipmi_port, control_port in sim_ports:
            _check_free(ipmi_port, socket.SOCK_DGRAM, "simulator IPMI")
            _check_free(control_port, socket.SOCK_STREAM, "simulator control")
        if args.screenshots:
            # The pictures' history graphs show this run only, not the last run's states.
            for database in CONFIG_DIR.glob("home-assistant_v2.db*"):
                database.unlink()
        print("starting mosquitto, simulated R730s and Home Assistant ...", flush=True)
        with running_lab(
            CONFIG_DIR,
            WORK_DIR,
            ha_port=args.port,
            broker_port=args.mqtt_port,
            sim_ports=sim_ports,
            time_scale=args.time_scale,
        ) as lab:
            provision(lab, scan_interval=5 if args.screenshots else None)
            print(banner(lab), flush=True)
            if args.screenshots:
                take_screenshots(lab, args.screenshots)
                return 0
            while True:
                for service in lab.services:
                    service.check_running()
                time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except StackError as err:
        print(f"scripts/develop: {err}", file=sys.stderr)
        return 1
    finally:
        print("stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
