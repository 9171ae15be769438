"""The command line and the out-of-process control channel."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import json
from pathlib import Path
import re
import signal
import subprocess
import sys
from urllib.error import HTTPError

import pytest

from poweredge_sim import SimulatedIdrac
from poweredge_sim.control import ControlServer, request

from .clients import ipmitool, sdr_list

REPO = Path(__file__).resolve().parents[2]


class _Port:
    """Quacks like SimulatedIdrac for the ipmitool helper."""

    user, password = "root", "calvin"

    def __init__(self, port: int) -> None:
        self.port = port


@contextmanager
def _cli(*args: str) -> Iterator[tuple[subprocess.Popen[str], _Port, int]]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "poweredge_sim",
            "--port",
            "0",
            "--control-port",
            "0",
            *args,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        match = re.search(r"ipmi=127\.0\.0\.1:(\d+) control=127\.0\.0\.1:(\d+)", banner)
        assert match, banner + process.stderr.read() if process.stderr else banner
        yield process, _Port(int(match.group(1))), int(match.group(2))
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _ctl(control_port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "poweredge_sim",
            "ctl",
            "--control-port",
            str(control_port),
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_serves_two_models_and_is_driven_by_ctl(socket_enabled: None) -> None:
    with (
        _cli("--model", "r510") as (r510, r510_ipmi, r510_control),
        _cli("--model", "r740-3.34", "--time-scale", "10") as (
            r740,
            r740_ipmi,
            r740_control,
        ),
    ):
        assert [n for n, _, _ in sdr_list(r510_ipmi)][-1] == "System Level"
        refused = ipmitool(r740_ipmi, "raw", "0x30", "0x30", "0x01", "0x00")
        assert "rsp=0xd4" in refused.stderr

        changed = _ctl(
            r510_control, "--load", "0.9", "--ambient", "30", "--sdr-read-limit", "0x20"
        )
        assert changed.returncode == 0, changed.stderr
        state = json.loads(changed.stdout)
        assert (state["model"], state["load"], state["ambient"]) == ("r510", 0.9, 30.0)
        assert state["port"] == r510_ipmi.port
        assert state["faults"]["sdr_read_limit"] == 0x20

        _ctl(r510_control, "--completion-code", "0x06", "0x01", "0xc0")
        busy = ipmitool(r510_ipmi, "mc", "info")
        assert busy.returncode != 0

        bad = _ctl(r510_control, "--drop-rate", "2")
        assert bad.returncode == 2
        assert "between" in bad.stderr

        r740_state = json.loads(_ctl(r740_control, "state").stdout)
        assert r740_state["model"] == "r740-3.34"
        assert r740_state["oem_log"][0]["completion_code"] == 0xD4

        for process, stop_signal in ((r510, signal.SIGTERM), (r740, signal.SIGINT)):
            process.send_signal(stop_signal)
            out, _ = process.communicate(timeout=10)
            assert process.returncode == 0
            assert "poweredge_sim stopped" in out


def test_ctl_without_a_simulator_says_so(socket_enabled: None) -> None:
    with ControlServer(SimulatedIdrac("r730")) as control:
        port = control.port  # a port that was free a moment ago
    result = _ctl(port, "state")

    assert result.returncode == 1
    assert "no simulator control endpoint" in result.stderr


def test_control_endpoint_in_process(poweredge_sim: SimulatedIdrac) -> None:
    def value(state: dict, name: str) -> float | None:
        return next(r["value"] for r in state["readings"] if r["name"] == name)

    with ControlServer(poweredge_sim) as control:
        changed = request(
            control.port,
            {
                "load": 0.5,
                "advance": 100,
                "system_name": "",
                "faults": {"delay": 0.01},
                "disable_sensor": "Fan1",
            },
        )
        with pytest.raises(HTTPError) as unknown:
            request(control.port, {"lod": 1})
        restored = request(control.port, {"clear_faults": True, "enable_sensor": 0x30})
        off = request(control.port, {"power": False, "restart_bmc": 0})

    assert (changed["load"], changed["now"] >= 100, changed["faults"]["delay"]) == (
        0.5,
        True,
        0.01,
    )
    assert value(changed, "Fan1") is None
    assert value(changed, "Fan2") is not None
    assert poweredge_sim.system_name == ""
    assert unknown.value.code == 400
    assert restored["faults"]["delay"] == 0.0
    assert value(restored, "Fan1") is not None
    assert off["powered"] is False
    assert value(off, "Fan2") is None
