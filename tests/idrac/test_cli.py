"""The compatibility check CLI: as users run it (a subprocess), and in-process for each exit path."""

from __future__ import annotations

import json
from pathlib import Path
import socket
import subprocess
import sys

import pytest

from custom_components.dell_fan_control.idrac.__main__ import main

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text("calvin\n", encoding="utf-8")
    return path


def probe_args(port: int, password_file: Path, *extra: str) -> list[str]:
    return [
        "probe",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--username",
        "root",
        "--password-file",
        str(password_file),
        "--timeout",
        "0.25",
        *extra,
    ]


# Users run the check before installing, where there is no Home Assistant: block it.
WITHOUT_HOME_ASSISTANT = (
    "import runpy, sys; sys.modules['homeassistant'] = None; "
    "runpy.run_module('custom_components.dell_fan_control.idrac', run_name='__main__')"
)


def test_probe_subprocess_prints_json(poweredge_sim, password_file: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            WITHOUT_HOME_ASSISTANT,
            *probe_args(poweredge_sim.port, password_file),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cipher_suite"] == 17
    assert report["device"]["manufacturer_id"] == 674
    assert report["device"]["is_dell"] is True
    assert report["device"]["firmware"] == "2.86"
    assert report["fan_control"] == "supported"
    assert report["chassis_power_on"] is True
    sensors = {sensor["key"]: sensor for sensor in report["sensors"]}
    assert sensors["cpu1_temperature"]["entity"] == "3.1"
    assert sensors["cpu1_temperature"]["value"] > 0
    assert sensors["cpu1_temperature"]["status"] == "ok"
    assert sensors["psu1_inlet_temp"]["kind"] == "other_temperature"
    assert sensors["fan1"]["unit"] == "RPM"
    # The probe only ever hands the fans back to Dell.
    assert [(e.command, e.data) for e in poweredge_sim.oem_log] == [(0x30, b"\x01\x01")]
    assert poweredge_sim.open_sessions == []


def test_probe_in_process_suite_3_not_permitted(
    poweredge_sim_factory, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = poweredge_sim_factory("r740-3.34")

    assert main(probe_args(sim.port, password_file, "--cipher-suite", "3")) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["cipher_suite"], report["fan_control"]) == (3, "not_permitted")
    assert sim.open_sessions == []


def test_wrong_password_exits_3(
    poweredge_sim, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-calvin", encoding="utf-8")

    assert main(probe_args(poweredge_sim.port, wrong)) == 3
    assert "authentication refused" in capsys.readouterr().err


def test_no_answer_exits_4(
    socket_enabled, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    assert main(probe_args(port, password_file)) == 4
    assert "no answer" in capsys.readouterr().err


def test_unusable_answer_exits_5(
    poweredge_sim, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    poweredge_sim.override_completion_code(0x06, 0x01, 0xFF)  # Get Device ID fails

    assert main(probe_args(poweredge_sim.port, password_file)) == 5
    assert "0xFF" in capsys.readouterr().err


def test_unreadable_password_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(probe_args(623, tmp_path / "missing")) == 2
    assert "password file" in capsys.readouterr().err
