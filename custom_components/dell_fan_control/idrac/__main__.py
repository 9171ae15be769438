"""Compatibility check users can run before installing the integration.

python -m custom_components.dell_fan_control.idrac probe --host H --port P \
    --username U --password-file F [--cipher-suite N]

Prints JSON on stdout. The fan-control probe sends "Dell automatic" (raw 0x30 0x30
0x01 0x01), which only hands the fans back to the iDRAC: it is safe on a running server.
Exit codes: 0 success, 2 bad arguments or unreadable password file, 3 authentication
refused, 4 no answer, 5 unusable answer.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any

from .client import IdracClient
from .models import (
    DEFAULT_PORT,
    ConnectionSettings,
    IdracAuthError,
    IdracConnectionError,
    IdracError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CONNECTION = 4
EXIT_PROTOCOL = 5


def probe(settings: ConnectionSettings) -> dict[str, Any]:
    """Everything the integration would use, read once; the session is closed after."""
    with IdracClient(settings) as client:
        identity = client.identity()
        sensors = client.sensors()
        samples = client.samples(sensor.key for sensor in sensors)
        capability = client.probe_fan_control()
        return {
            "host": settings.host,
            "port": settings.port,
            "cipher_suite": client.cipher_suite,
            "device": {
                "manufacturer_id": identity.manufacturer_id,
                "is_dell": identity.is_dell,
                "product_id": identity.product_id,
                "firmware": identity.firmware,
                "guid": identity.guid,
                "system_name": identity.system_name,
            },
            "chassis_power_on": client.chassis_power_on(),
            "fan_control": capability.value,
            "sensors": [
                {
                    "key": sensor.key,
                    "name": sensor.name,
                    "kind": sensor.kind.value,
                    "entity": f"{sensor.entity_id}.{sensor.entity_instance}",
                    "number": sensor.number,
                    "unit": sensor.unit,
                    "value": samples[sensor.key].value,
                    "status": samples[sensor.key].status.value,
                }
                for sensor in sensors
            ],
        }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.dell_fan_control.idrac",
        description="Check that a Dell iDRAC works with the dell_fan_control integration.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    probe_parser = commands.add_parser(
        "probe",
        help="connect, read identity and sensors, probe fan control; print JSON",
    )
    probe_parser.add_argument("--host", required=True, help="iDRAC address")
    probe_parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="IPMI-LAN UDP port"
    )
    probe_parser.add_argument(
        "--username", required=True, help="iDRAC user (Administrator)"
    )
    probe_parser.add_argument(
        "--password-file",
        type=Path,
        required=True,
        help="file holding the password, so it stays out of the shell history",
    )
    probe_parser.add_argument(
        "--cipher-suite",
        type=int,
        choices=(3, 17),
        default=None,
        help="RMCP+ cipher suite; default: 17, then 3",
    )
    probe_parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds per answer"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        password = args.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as err:
        print(f"error: cannot read the password file: {err}", file=sys.stderr)
        return EXIT_USAGE
    settings = ConnectionSettings(
        host=args.host,
        port=args.port,
        username=args.username,
        password=password,
        cipher_suite=args.cipher_suite,
        timeout=args.timeout,
    )
    try:
        report = probe(settings)
    except IdracAuthError as err:
        print(
            f"error: authentication refused, check user and password: {err}",
            file=sys.stderr,
        )
        return EXIT_AUTH
    except IdracConnectionError as err:
        print(
            f"error: no answer, check address, port and that IPMI over LAN is enabled: {err}",
            file=sys.stderr,
        )
        return EXIT_CONNECTION
    except IdracError as err:
        print(f"error: the iDRAC answered, but not usably: {err}", file=sys.stderr)
        return EXIT_PROTOCOL
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
