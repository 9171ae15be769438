"""A user's whole journey through a real `hass` process, as HA's frontend and REST API drive it.

One Home Assistant start for every check (the same stack as scripts/develop): the config flow with
a wrong password first, entity states, fan services against the simulator, the curve under load,
the MQTT mirror, the device page and the docs' dashboards in headless Chromium, and the hand-back
to Dell automatic when HA stops.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import re
import socket
import subprocess
import time
from typing import Any

from homeassistant.util.yaml import load_yaml_dict
import pytest

from tests.e2e import browser
from tests.e2e.stack import (
    DASHBOARD_FILE,
    DEV_LOGIN,
    LOOPBACK,
    REPO_ROOT,
    Lab,
    Simulator,
    StackError,
    add_mqtt_entry,
    dell_flow_input,
    entity_ids,
    free_port,
    running_lab,
    set_options,
    wait_until,
)

pytestmark = pytest.mark.e2e

GRAFANA_FILE = REPO_ROOT / "docs" / "grafana-dashboard.json"
FAN = "fan.r730_sim"
SENSOR = "sensor.r730_sim_{}"
TIME_SCALE = 10.0  # CPU temperatures settle in seconds instead of minutes
SCAN_INTERVAL = 5  # the options flow's minimum
OEM_MANUAL, OEM_AUTOMATIC = "01 00", "01 01"  # Dell `30 30 01 xx`
DEVICE_PAGE_NAMES = [
    "CPU 1 temperature",
    "CPU 2 temperature",
    "Inlet temperature",
    "Exhaust temperature",
    "Fan1 speed",
    "Fan6 speed",
    "Power consumption",
    "Target fan speed",
    "Control temperature",
]


def numeric(lab: Lab, entity_id: str) -> float:
    state = lab.api.state(entity_id)["state"]
    try:
        return float(state)
    except ValueError:
        pytest.fail(f"{entity_id} is {state!r}, not a number")


def fan_oem_commands(sim: Simulator) -> list[str]:
    """Data of every Dell fan command (netfn 0x30, command 0x30) the simulator answered."""
    return [
        entry["data"]
        for entry in sim.state()["oem_log"]
        if entry["netfn"] == 0x30 and entry["command"] == 0x30
    ]


type FanPredicate = Callable[[dict[str, Any], dict[str, Any]], bool]


def wait_for_fan(
    lab: Lab, what: str, predicate: FanPredicate, timeout: float = 30
) -> dict[str, Any]:
    """Wait until predicate(fan state attributes, simulator state) holds; returns the attributes."""

    seen: list[str] = []

    def check() -> dict[str, Any] | None:
        attributes: dict[str, Any] = lab.api.state(FAN)["attributes"]
        state = lab.sims[0].state()
        target = lab.api.state(SENSOR.format("target_fan_speed"))["state"]
        seen[:] = [
            (
                f"fan {attributes.get('preset_mode')} {attributes.get('percentage')} %,"
                f" target {target} %, simulator {state['mode']} {state['fan_duty']} %,"
                f" {state['temperatures']}"
            )
        ]
        return attributes if predicate(attributes, state) else None

    try:
        return wait_until(check, what, timeout)
    except StackError as err:
        raise AssertionError(f"{err}; last seen: {seen}") from err


def create_entry_like_the_frontend(lab: Lab) -> str:
    """Step 1: the user step, a wrong password first (form error, nothing created)."""
    api, sim = lab.api, lab.sims[0]
    flow = api.start_flow("dell_fan_control")
    assert flow["type"] == "form" and flow["step_id"] == "user"
    assert [field["name"] for field in flow["data_schema"]] == [
        "host",
        "port",
        "username",
        "password",
        "advanced",
    ]
    refused = api.submit(flow, dell_flow_input(sim, password="not-calvin"))
    assert refused["type"] == "form", refused
    assert refused["errors"] == {"base": "invalid_auth"}
    assert api.entries("dell_fan_control") == []

    created = api.submit(refused, dell_flow_input(sim))
    assert created["type"] == "create_entry", created
    assert created["title"] == "r730-sim"
    assert created["result"]["state"] == "loaded"
    entry_id = str(created["result"]["entry_id"])
    assert [entry["entry_id"] for entry in api.entries("dell_fan_control")] == [
        entry_id
    ]
    return entry_id


def check_states(lab: Lab, entry_id: str) -> None:
    """Step 2: /api/states shows the simulator's temperatures, fans and power."""
    expected = {
        FAN,
        *(
            SENSOR.format(key)
            for key in (
                "cpu_1_temperature",
                "cpu_2_temperature",
                "inlet_temperature",
                "exhaust_temperature",
                "power_consumption",
                "target_fan_speed",
                "control_temperature",
                *(f"fan{n}_speed" for n in range(1, 7)),
            )
        ),
    }
    assert expected <= set(entity_ids(lab.api, entry_id))
    states = lab.api.states()
    assert expected <= set(states), sorted(expected - set(states))
    physics = lab.sims[0].state()["temperatures"]
    for key, sim_key in (
        ("cpu_1_temperature", "cpu1"),
        ("cpu_2_temperature", "cpu2"),
        ("inlet_temperature", "inlet"),
    ):
        assert abs(numeric(lab, SENSOR.format(key)) - physics[sim_key]) < 5, key
    for n in range(1, 7):
        assert 1500 < numeric(lab, SENSOR.format(f"fan{n}_speed")) < 20000
    assert numeric(lab, SENSOR.format("power_consumption")) > 50
    fan = states[FAN]
    assert fan["state"] == "on"
    assert fan["attributes"]["preset_mode"] == "auto"
    assert fan["attributes"]["preset_modes"] == ["auto", "curve", "manual"]


def drive_fan_services(lab: Lab) -> None:
    """Step 3: fan.set_percentage selects manual; the simulator logs the OEM commands and follows."""
    sim = lab.sims[0]
    lab.api.service("fan", "set_percentage", {"entity_id": FAN, "percentage": 10})
    wait_for_fan(
        lab,
        "manual 10 % in HA and in the simulator",
        lambda fan, state: (
            fan["preset_mode"] == "manual"
            and fan["percentage"] == 10
            and state["mode"] == "manual"
            and state["fan_duty"] == 10
        ),
    )
    commands = fan_oem_commands(sim)
    assert OEM_MANUAL in commands
    assert "02 ff 0a" in commands  # all fans, 0x0a = 10 %


def follow_the_curve(lab: Lab) -> None:
    """Step 4: preset curve, then more load: the fan % rises with the curve's target.

    Step 3 left a low manual speed, close to the idle curve's (decreases are slew-limited).
    """
    sim = lab.sims[0]
    lab.api.service(
        "fan", "set_preset_mode", {"entity_id": FAN, "preset_mode": "curve"}
    )
    idle = wait_for_fan(
        lab, "the curve preset", lambda fan, _state: fan["preset_mode"] == "curve"
    )
    assert idle["percentage"] is not None
    sim.control(load=0.8)

    def risen(fan: dict[str, Any], state: dict[str, Any]) -> bool:
        target = numeric(lab, SENSOR.format("target_fan_speed"))
        return bool(
            fan["percentage"] >= idle["percentage"] + 10
            and fan["percentage"] == target
            and state["fan_duty"] == fan["percentage"]
        )

    hot = wait_for_fan(
        lab, "the fans to follow the curve under load", risen, timeout=90
    )
    assert numeric(lab, SENSOR.format("control_temperature")) > 50, hot


def receive_mqtt(lab: Lab) -> dict[str, Any]:
    """Step 5: a subscriber gets the retained status and live metrics; returns one metrics payload."""
    topics = ["-t", "servers/+/status", "-t", "servers/+/metrics"]
    # Three messages: the retained status at once, then two polls' metrics (%r = retain flag).
    output = ["-F", "%r %t %p", "-C", "3", "-W", "30"]
    result = subprocess.run(
        ["mosquitto_sub", "-h", LOOPBACK, "-p", str(lab.broker_port), *topics, *output],
        capture_output=True,
        text=True,
        timeout=40,
        check=False,
    )
    messages = [line.split(" ", 2) for line in result.stdout.splitlines()]
    assert len(messages) == 3, (result.returncode, result.stdout, result.stderr)
    status = [
        json.loads(payload)
        for retain, topic, payload in messages
        if topic.endswith("/status")
    ]
    metrics = [
        (retain, json.loads(payload))
        for retain, topic, payload in messages
        if topic == "servers/r730-sim/metrics"
    ]
    assert status, messages
    assert status[0]["state"] == "online"
    assert status[0]["mode"] == "curve"
    assert (
        messages[0][0] == "1" and messages[0][1] == "servers/r730-sim/status"
    )  # retained
    assert len(metrics) == 2, messages
    for retain, payload in metrics:
        assert retain == "0"
        assert payload["schema"] == 1
        assert payload["mode"] == "curve"
        assert payload["fan_command_percent"] is not None
        assert set(payload["temperatures_c"]) >= {
            "cpu1_temperature",
            "inlet_temperature",
        }
        assert len(payload["fan_speeds_rpm"]) == 6
    last: dict[str, Any] = metrics[-1][1]
    return last


def check_grafana_dashboard(metrics: dict[str, Any]) -> None:
    """docs/grafana-dashboard.json only subscribes to the mirror's topics and real payload fields."""
    dashboard = json.loads(GRAFANA_FILE.read_text(encoding="utf-8"))
    defaults = {var["name"]: var["query"] for var in dashboard["templating"]["list"]}
    status_fields = {"state", "mode", "breaker"}
    for panel in dashboard["panels"]:
        (target,) = panel["targets"]
        topic = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], target["topic"])
        assert topic in {"servers/r730-sim/metrics", "servers/r730-sim/status"}, topic
        fields = status_fields if topic.endswith("/status") else set(metrics)
        for transformation in panel["transformations"]:
            options = transformation["options"]
            if transformation["id"] == "extractFields":
                assert isinstance(metrics.get(options["source"]), dict), options
            else:
                assert set(options["include"]["names"]) - {"Time"} <= fields, panel[
                    "title"
                ]


def check_dashboard_entities(lab: Lab) -> list[str]:
    """docs/lovelace-dashboard.yaml names only entities that exist; returns its card headings."""
    dashboard = load_yaml_dict(DASHBOARD_FILE)
    text = json.dumps(dashboard)
    referenced = set(re.findall(r"\b(?:fan|sensor)\.r730_sim\w*", text))
    assert FAN in referenced
    assert referenced <= set(lab.api.states()), sorted(
        referenced - set(lab.api.states())
    )
    return [
        card["heading"]
        for view in dashboard["views"]
        for section in view["sections"]
        for card in section["cards"]
        if card["type"] == "heading"
    ]


def check_frontend(lab: Lab, tmp_path: Path) -> None:
    """Log in like a person; the device page lists our entities, the docs' dashboard renders."""
    headings = check_dashboard_entities(lab)
    device_id = lab.api.template(f"{{{{ device_id('{FAN}') }}}}")
    with browser.open_page(height=1100) as page:
        browser.log_in(page, lab.base_url, *DEV_LOGIN)
        browser.open_device_page(page, lab.base_url, device_id, "r730-sim")
        try:
            browser.expect_texts(page, DEVICE_PAGE_NAMES)
        finally:
            browser.settle_and_capture(page, tmp_path / "device-page.png")
        page.goto(f"{lab.base_url}/dell-fan-control/server")
        browser.expect_texts(page, headings)
        assert page.get_by_text("Entity not found").count() == 0
        browser.settle_and_capture(page, tmp_path / "dashboard.png")


def stop_and_hand_back(lab: Lab) -> None:
    """Step 6: SIGTERM stops HA cleanly, and the simulator is back in Dell automatic."""
    sim = lab.sims[0]
    assert sim.state()["mode"] == "manual"  # the curve is in charge until the stop
    assert lab.hass.stop(timeout=60) == 0
    state = sim.state()
    assert state["mode"] == "automatic"
    assert fan_oem_commands(sim)[-1] == OEM_AUTOMATIC


def check_log(lab: Lab) -> None:
    """No integration failed to set up and ours logged no error."""
    log = (lab.config_dir / "home-assistant.log").read_text(encoding="utf-8")
    assert "Setup failed for" not in log
    ours = [
        line
        for line in log.splitlines()
        if " ERROR " in line and "custom_components.dell_fan_control" in line
    ]
    assert not ours, ours


def test_user_journey(socket_enabled: None, tmp_path: Path) -> None:
    started = time.monotonic()
    with running_lab(
        tmp_path / "config",
        tmp_path / "work",
        ha_port=free_port(),
        broker_port=free_port(),
        sim_ports=[(free_port(socket.SOCK_DGRAM), free_port())],
        time_scale=TIME_SCALE,
    ) as lab:
        print(f"Home Assistant running {lab.start_seconds:.1f} s after launch")
        entry_id = create_entry_like_the_frontend(lab)
        add_mqtt_entry(lab.api, lab.broker_port)
        set_options(
            lab.api,
            entry_id,
            {
                "control": {"scan_interval": SCAN_INTERVAL},
                "mqtt": {"mirror_enabled": True},
            },
        )
        check_states(lab, entry_id)
        drive_fan_services(lab)
        follow_the_curve(lab)
        check_grafana_dashboard(receive_mqtt(lab))
        check_frontend(lab, tmp_path)
        stop_and_hand_back(lab)
        check_log(lab)
    print(f"end to end in {time.monotonic() - started:.1f} s")
