"""The stack that scripts/develop and the end-to-end test run: mosquitto, simulated iDRACs, `hass`.

Everything listens on 127.0.0.1 only. Home Assistant is driven the way its frontend drives it:
REST onboarding, the login flow, and config/options flows through `/api/config/config_entries`.
Plain urllib keeps this usable from a script and from tests under PHCC (no event loop, no threads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
import json
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from poweredge_sim.control import request as sim_request

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
SIM_USER, SIM_PASSWORD = "root", "calvin"
MOSQUITTO = "/usr/sbin/mosquitto"
DASHBOARD_FILE = REPO_ROOT / "docs" / "lovelace-dashboard.yaml"
# Integrations whose entries HA's onboarding creates by itself; not wanted in this instance.
ONBOARDING_DOMAINS = ("google_translate", "met", "radio_browser", "shopping_list")
DEV_NAME, DEV_LOGIN = "Developer", ("dev", "dev")


class StackError(RuntimeError):
    """A part of the stack did not come up or did not answer as expected."""


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """An unused loopback port of that kind; the process that gets it binds it moments later."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def wait_until[T](
    probe: Callable[[], T | None], what: str, timeout: float, interval: float = 0.25
) -> T:
    """Call probe() until it returns something truthy; StackError naming `what` after timeout s."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            if result := probe():
                return result
        except (OSError, StackError) as err:
            last = err
        if time.monotonic() > deadline:
            raise StackError(
                f"timed out after {timeout:.0f} s waiting for {what}: {last!r}"
            )
        time.sleep(interval)


@dataclass
class Service:
    """A child process in its own session, so a terminal's Ctrl-C reaches only its parent.

    The parent then stops the children in order (Home Assistant before the simulators it must
    hand the fans back to).
    """

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, args: list[str], log: Path) -> Service:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        return cls(name, process, log)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def check_running(self) -> None:
        """Raise with the end of the log if the process has died."""
        if not self.running:
            raise StackError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, SIGKILL if it will not go; returns the exit code."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def start_mosquitto(workdir: Path, port: int) -> Service:
    """An anonymous broker on loopback, as a fresh Home Assistant user would have one."""
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} {LOOPBACK}\nallow_anonymous true\npersistence false\n"
        # Started as root inside the environment: stay root so the work directory stays readable.
        "user root\nlog_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n",
        encoding="utf-8",
    )
    broker = Service.start(
        "mosquitto", [MOSQUITTO, "-c", str(conf)], workdir / "mosquitto.log"
    )

    def accepts() -> bool:
        broker.check_running()
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True

    wait_until(accepts, f"mosquitto on port {port}", 10)
    return broker


@dataclass
class Simulator:
    """One `python -m poweredge_sim` process with its JSON control channel."""

    service: Service
    ipmi_port: int
    control_port: int

    def state(self) -> dict[str, Any]:
        return sim_request(self.control_port)

    def control(self, **changes: Any) -> dict[str, Any]:
        return sim_request(self.control_port, changes)


def start_simulator(
    log: Path,
    *,
    ipmi_port: int,
    control_port: int,
    time_scale: float,
    load: float = 0.2,
    system_name: str | None = None,
) -> Simulator:
    """An R730 (root / calvin) with its thermal model, ready when its control channel answers."""
    args = [
        sys.executable, "-m", "poweredge_sim", "--model", "r730",
        "--host", LOOPBACK, "--port", str(ipmi_port), "--control-port", str(control_port),
        "--user", SIM_USER, "--password", SIM_PASSWORD,
        "--time-scale", str(time_scale), "--load", str(load),
    ]  # fmt: skip
    if system_name:
        args += ["--system-name", system_name]
    service = Service.start(f"poweredge_sim :{ipmi_port}", args, log)
    sim = Simulator(service, ipmi_port, control_port)

    def answers() -> dict[str, Any]:
        service.check_running()
        try:
            return sim.state()
        except URLError as err:
            raise StackError(str(err)) from err

    wait_until(answers, f"the simulator's control port {control_port}", 15)
    return sim


def link_config(config_dir: Path) -> None:
    """Point a config directory at this checkout: configuration, integration and dashboard.

    The repo's own config/ keeps its configuration.yaml; any other directory (the e2e's) links it.
    Links are replaced when they point elsewhere (a moved checkout).
    """
    links = {
        config_dir / "custom_components" / "dell_fan_control": REPO_ROOT
        / "custom_components"
        / "dell_fan_control",
        config_dir / "dashboards" / "dell_fan_control.yaml": DASHBOARD_FILE,
    }
    source_config = REPO_ROOT / "config" / "configuration.yaml"
    if (config_dir / "configuration.yaml").resolve() != source_config.resolve():
        links[config_dir / "configuration.yaml"] = source_config
    for link, target in links.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)


def write_http_config(config_dir: Path, port: int) -> None:
    """Make HA listen on 127.0.0.1:port only, as its own HTTP settings store says.

    HA 2026.10 ignores `http:` YAML after a one-time migration into .storage/http (as a trial it
    reverts to 0.0.0.0:8123 after five minutes), so the confirmed ("stable") slot is written here,
    validated by HA's own schema, before every start.
    """
    from homeassistant.components.http.config import (
        HTTP_STORAGE_SCHEMA,
        STORAGE_KEY,
        STORAGE_MINOR_VERSION,
        STORAGE_VERSION,
    )

    stable = HTTP_STORAGE_SCHEMA({"server_host": [LOOPBACK], "server_port": port})
    stable |= {
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    store = config_dir / ".storage" / STORAGE_KEY
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(
        json.dumps(
            {
                "version": STORAGE_VERSION,
                "minor_version": STORAGE_MINOR_VERSION,
                "key": STORAGE_KEY,
                "data": {
                    "stable": stable,
                    "pending": None,
                    "yaml_migration_done": True,
                },
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def start_home_assistant(config_dir: Path, port: int) -> Service:
    """`hass` on 127.0.0.1:port; --skip-pip: every requirement is pinned in requirements_test.txt."""
    link_config(config_dir)
    write_http_config(config_dir, port)
    return Service.start(
        "Home Assistant",
        [
            sys.executable,
            "-m",
            "homeassistant",
            "--config",
            str(config_dir),
            "--skip-pip",
        ],
        config_dir / "home-assistant.console.log",
    )


@dataclass
class ApiResponse:
    status: int
    body: Any


@dataclass
class HomeAssistantApi:
    """Home Assistant's REST API as the frontend uses it (JSON in, JSON out, bearer token)."""

    base_url: str
    token: str | None = field(default=None, repr=False)

    @property
    def client_id(self) -> str:
        return f"{self.base_url}/"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        form: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> ApiResponse:
        """Any status comes back as an ApiResponse; only transport errors raise."""
        headers = {"Accept": "application/json"}
        data: bytes | None = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
                content_type = response.headers.get_content_type()
        except HTTPError as err:
            status, raw = err.code, err.read()
            content_type = err.headers.get_content_type()
        if content_type == "application/json" and raw:
            return ApiResponse(status, json.loads(raw))
        return ApiResponse(status, raw.decode(errors="replace"))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """request() that insists on a 2xx answer and returns its body."""
        response = self.request(method, path, body)
        if not 200 <= response.status < 300:
            raise StackError(f"{method} {path} -> {response.status}: {response.body}")
        return response.body

    # --- authentication -------------------------------------------------------------

    def _exchange_code(self, code: str) -> None:
        response = self.request(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        )
        if response.status != 200:
            raise StackError(f"/auth/token -> {response.status}: {response.body}")
        self.token = response.body["access_token"]

    def log_in(self, username: str, password: str) -> None:
        """The login flow the frontend's login page runs."""
        flow = self.call(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.base_url}/?auth_callback=1",
            },
        )
        result = self.call(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
        )
        if result.get("type") != "create_entry":
            raise StackError(f"login as {username} refused: {result}")
        self._exchange_code(result["result"])

    def onboard(self, *, name: str, username: str, password: str) -> None:
        """Finish whatever onboarding is left and end up logged in as the owner."""
        self.token = None
        status = self.request("GET", "/api/onboarding")
        if status.status == 404:  # fully onboarded: HA no longer registers the views
            self.log_in(username, password)
            return
        done = {step["step"] for step in status.body if step["done"]}
        if "user" in done:
            self.log_in(username, password)
        else:
            created = self.call(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": name,
                    "username": username,
                    "password": password,
                    "language": "en",
                },
            )
            self._exchange_code(created["auth_code"])
        for step, body in (
            ("core_config", {}),
            ("analytics", {}),
            (
                "integration",
                {"client_id": self.client_id, "redirect_uri": self.client_id},
            ),
        ):
            if step not in done:
                self.call("POST", f"/api/onboarding/{step}", body)

    # --- state --------------------------------------------------------------------------

    def wait_http(self, service: Service, timeout: float) -> None:
        """Wait until the HTTP server answers (a page needing no token: a 401 notifies the user)."""

        def answers() -> bool:
            service.check_running()
            return self.request("GET", "/manifest.json", timeout=2).status == 200

        wait_until(answers, f"{service.name} to answer at {self.base_url}", timeout)

    def wait_running(self, timeout: float) -> dict[str, Any]:
        """Wait for the core to be RUNNING (every integration set up); returns /api/config."""

        def running() -> dict[str, Any] | None:
            config: dict[str, Any] = self.call("GET", "/api/config")
            return config if config["state"] == "RUNNING" else None

        return wait_until(running, "Home Assistant to finish starting", timeout)

    def states(self) -> dict[str, dict[str, Any]]:
        return {state["entity_id"]: state for state in self.call("GET", "/api/states")}

    def state(self, entity_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/api/states/{entity_id}")
        return result

    def service(self, domain: str, service: str, data: Mapping[str, Any]) -> Any:
        return self.call("POST", f"/api/services/{domain}/{service}", dict(data))

    def template(self, template: str) -> str:
        response = self.request("POST", "/api/template", {"template": template})
        if response.status != 200:
            raise StackError(
                f"template {template!r} -> {response.status}: {response.body}"
            )
        return str(response.body)

    # --- config entries -------------------------------------------------------------

    def entries(self, domain: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call(
            "GET", f"/api/config/config_entries/entry?domain={domain}"
        )
        return result

    def delete_entry(self, entry_id: str) -> None:
        self.call("DELETE", f"/api/config/config_entries/entry/{entry_id}")

    def start_flow(self, handler: str) -> dict[str, Any]:
        """Open a config flow like the frontend's "Add integration" (advanced mode off)."""
        result: dict[str, Any] = self.call(
            "POST",
            "/api/config/config_entries/flow",
            {"handler": handler, "show_advanced_options": False},
        )
        return result

    def submit(
        self,
        flow: Mapping[str, Any],
        user_input: Mapping[str, Any],
        *,
        options: bool = False,
    ) -> dict[str, Any]:
        """Send a form step; fields left out get their defaults or shown values, as in the UI."""
        kind = "options/flow" if options else "flow"
        result: dict[str, Any] = self.call(
            "POST",
            f"/api/config/config_entries/{kind}/{flow['flow_id']}",
            form_values(flow["data_schema"], user_input),
        )
        return result

    def start_options_flow(self, entry_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
        )
        return result


def form_values(
    schema: list[dict[str, Any]], user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """What the frontend submits for a serialized form: suggested value, else default, else input.

    Sections ("expandable") nest; user_input uses the same nesting and wins.
    """
    values: dict[str, Any] = {}
    for item in schema:
        name = item["name"]
        given = user_input.get(name)
        if item.get("type") == "expandable":
            values[name] = form_values(item["schema"], given or {})
            continue
        if name in user_input:
            values[name] = given
        elif "suggested_value" in (item.get("description") or {}):
            values[name] = item["description"]["suggested_value"]
        elif "default" in item:
            values[name] = item["default"]
        elif item.get("required") and (initial := _initial_value(item)) is not None:
            values[name] = initial
    return values


def _initial_value(item: Mapping[str, Any]) -> Any:
    """The frontend's initial value for a required field without default (computeInitialHaFormData)."""
    selector = item.get("selector") or {}
    if "boolean" in selector:
        return False
    if options := (selector.get("select") or {}).get("options"):
        first = options[0]
        return first["value"] if isinstance(first, Mapping) else first
    return None


def add_mqtt_entry(api: HomeAssistantApi, broker_port: int) -> str:
    """MQTT against the local broker, through the same config flow a user fills in."""
    flow = api.start_flow("mqtt")
    if flow.get("type") != "form":
        raise StackError(f"MQTT flow did not show a form: {flow}")
    result = api.submit(flow, {"broker": LOOPBACK, "port": broker_port})
    if result.get("type") != "create_entry":
        raise StackError(f"MQTT flow did not create an entry: {result}")
    return str(result["result"]["entry_id"])


def dell_flow_input(sim: Simulator, password: str = SIM_PASSWORD) -> dict[str, Any]:
    """The user step as a person fills it in: address, port, credentials, advanced section."""
    return {
        "host": LOOPBACK,
        "port": sim.ipmi_port,
        "username": SIM_USER,
        "password": password,
        "advanced": {"cipher_suite": "auto"},
    }


def add_dell_entry(api: HomeAssistantApi, sim: Simulator) -> str:
    flow = api.start_flow("dell_fan_control")
    result = api.submit(flow, dell_flow_input(sim))
    if result.get("type") != "create_entry":
        raise StackError(f"Dell flow did not create an entry: {result}")
    return str(result["result"]["entry_id"])


def set_options(
    api: HomeAssistantApi, entry_id: str, changes: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Run the options flow, changing only `changes` ({section: {field: value}}).

    Saving reloads the entry in the background; this returns once the reloaded fan entity is
    back (its state changed after the save), so nothing sent next lands on the old entities.
    """
    (fan,) = [e for e in entity_ids(api, entry_id) if e.startswith("fan.")]
    flow = api.start_options_flow(entry_id)
    result = api.submit(flow, changes, options=True)
    if result.get("type") != "create_entry":
        raise StackError(f"options flow refused {changes}: {result}")
    (entry,) = [e for e in api.entries("dell_fan_control") if e["entry_id"] == entry_id]

    def reloaded() -> bool:
        state = api.state(fan)
        changed = datetime.fromisoformat(state["last_changed"]).timestamp()
        return bool(state["state"] != "unavailable" and changed > entry["modified_at"])

    wait_until(reloaded, f"{fan} after the options reload", 60)
    return result


def entity_ids(api: HomeAssistantApi, entry_id: str) -> list[str]:
    """The entry's entities, through a template (REST has no entity-registry endpoint)."""
    rendered = api.template(
        "{% for e in integration_entities('dell_fan_control') %}"
        f"{{% if config_entry_id(e) == '{entry_id}' %}}{{{{ e }}}} {{% endif %}}"
        "{% endfor %}"
    )
    return rendered.split()


def remove_onboarding_entries(api: HomeAssistantApi) -> None:
    """Drop what onboarding sets up by itself (a failing TTS, a shopping list): not this lab's."""
    for domain in ONBOARDING_DOMAINS:
        for entry in api.entries(domain):
            api.delete_entry(entry["entry_id"])


@dataclass
class Lab:
    """A running stack; `services` is in start order and stopped in reverse."""

    config_dir: Path
    api: HomeAssistantApi
    broker: Service
    broker_port: int
    sims: list[Simulator]
    hass: Service
    services: list[Service]
    start_seconds: float  # from launching `hass` to its core RUNNING

    @property
    def base_url(self) -> str:
        return self.api.base_url


@contextmanager
def running_lab(
    config_dir: Path,
    work_dir: Path,
    *,
    ha_port: int,
    broker_port: int,
    sim_ports: list[tuple[int, int]],
    time_scale: float,
    start_timeout: float = 180,
) -> Iterator[Lab]:
    """Broker, one simulator per (ipmi, control) port pair, then HA onboarded with DEV_LOGIN.

    On the way out everything is stopped, Home Assistant first so it can hand the fans back.
    """
    services: list[Service] = []
    try:
        broker = start_mosquitto(work_dir / "mosquitto", broker_port)
        services.append(broker)
        sims = []
        for index, (ipmi_port, control_port) in enumerate(sim_ports):
            sim = start_simulator(
                work_dir / f"poweredge_sim-{index}.log",
                ipmi_port=ipmi_port,
                control_port=control_port,
                time_scale=time_scale,
                # The first keeps the default name the docs' dashboard uses.
                system_name=None if index == 0 else f"r730-sim-{index + 1}",
            )
            services.append(sim.service)
            sims.append(sim)
        started = time.monotonic()
        hass = start_home_assistant(config_dir, ha_port)
        services.append(hass)
        api = HomeAssistantApi(f"http://{LOOPBACK}:{ha_port}")
        api.wait_http(hass, start_timeout)
        api.onboard(name=DEV_NAME, username=DEV_LOGIN[0], password=DEV_LOGIN[1])
        config = api.wait_running(start_timeout)
        if config.get("recovery_mode"):
            raise StackError(
                f"Home Assistant started in recovery mode:\n{hass.log_tail()}"
            )
        remove_onboarding_entries(api)
        yield Lab(
            config_dir=config_dir,
            api=api,
            broker=broker,
            broker_port=broker_port,
            sims=sims,
            hass=hass,
            services=services,
            start_seconds=time.monotonic() - started,
        )
    finally:
        for service in reversed(services):
            service.stop()
