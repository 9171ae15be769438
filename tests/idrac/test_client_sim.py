"""IdracClient over real UDP (RMCP+) against poweredge_sim, for every model and cipher suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
import math
import socket
import time

import pyipmi
from pyipmi.errors import RetryError
from pyipmi.interfaces.rmcpplus import RmcpPlus
import pytest

from custom_components.dell_fan_control.idrac import (
    ConnectionSettings,
    FanControlCapability,
    IdracAuthError,
    IdracClient,
    IdracConnectionError,
    IdracNotPermittedError,
    IdracProtocolError,
    IdracUnsupportedError,
    SensorKind,
)
from poweredge_sim import SimulatedIdrac

SimFactory = Callable[..., SimulatedIdrac]
MODELS = ("r730", "r710", "r510", "r740", "r740-3.34")
SUITES = (3, 17, None)
FAST_TIMEOUT = 0.25  # fault tests: keep the suite fast, the sim answers in < 5 ms

# poweredge_sim's sensor kinds -> how the client must classify them.
EXPECTED_KIND = {
    "inlet": SensorKind.INLET_TEMPERATURE,
    "exhaust": SensorKind.EXHAUST_TEMPERATURE,
    "planar": SensorKind.OTHER_TEMPERATURE,
    "cpu": SensorKind.CPU_TEMPERATURE,
    "psu_inlet": SensorKind.OTHER_TEMPERATURE,
    "fan": SensorKind.FAN,
    "power": SensorKind.POWER,
}


def settings_for(sim: SimulatedIdrac, **changes) -> ConnectionSettings:
    values = {
        "host": "127.0.0.1",
        "port": sim.port,
        "username": "root",
        "password": "calvin",
        "timeout": 1.0,
    }
    return ConnectionSettings(**(values | changes))


@pytest.fixture
def connect(poweredge_sim_factory: SimFactory) -> Iterator[Callable[..., IdracClient]]:
    """Clients on simulators; every client is closed and checked for leaked sessions."""
    opened: list[tuple[IdracClient, SimulatedIdrac]] = []

    def open_client(sim: SimulatedIdrac, **changes) -> IdracClient:
        client = IdracClient(settings_for(sim, **changes))
        opened.append((client, sim))
        return client

    yield open_client
    for client, sim in opened:
        client.close()
        # Messages that need no answer (RAKP 3 with an error) are handled asynchronously.
        assert wait_until(lambda sim=sim: sim.open_sessions == []), (
            "session leaked on the BMC"
        )


def wait_until(condition: Callable[[], bool], timeout: float = 1.0) -> bool:
    """Whether condition became true; the simulator handles datagrams in its own thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def oem_requests(sim: SimulatedIdrac) -> list[tuple[int, bytes, int]]:
    """The Dell OEM requests the BMC received: (command, data, completion code)."""
    return [(e.command, e.data, e.completion_code) for e in sim.oem_log]


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"suite-{s or 'auto'}")
@pytest.mark.parametrize("model", MODELS)
def test_identity_sensors_and_readings(
    poweredge_sim_factory: SimFactory, connect, model: str, suite: int | None
) -> None:
    sim = poweredge_sim_factory(model)
    client = connect(sim, cipher_suite=suite)

    identity = client.identity()
    sensors = client.sensors()
    values = client.read([sensor.key for sensor in sensors])

    assert client.cipher_suite == (suite or 17)
    assert client.session_generation == 1
    assert identity.is_dell
    assert identity.manufacturer_id == 674
    assert (
        identity.firmware
        == f"{sim.model.firmware.major}.{sim.model.firmware.minor:02d}"
    )
    assert identity.product_id == sim.model.firmware.product_id
    assert identity.system_name == f"{model}-sim"
    assert len(identity.guid) == 36
    assert (
        identity.product_name == sim.model.product
    )  # e.g. "PowerEdge R730", from FRU 0
    assert identity.service_tag == sim.fru.service_tag

    by_number = {sensor.number: sensor for sensor in sensors}
    assert len(sensors) == len(sim.model.sensors) == len({s.key for s in sensors})
    for spec, expected in sim.readings():
        sensor = by_number[spec.number]
        assert sensor.name == spec.name
        assert sensor.kind is EXPECTED_KIND[spec.kind.value], spec.name
        assert (sensor.entity_id, sensor.entity_instance) == (
            spec.entity,
            spec.instance,
        )
        value = values[sensor.key]
        if expected is None:
            assert value is None, spec.name
        else:
            assert value is not None, spec.name
            assert math.isclose(value, expected, rel_tol=0.1, abs_tol=2.0), spec.name


def test_r730_cpus_by_entity_and_psu_inlet_is_not_inlet(poweredge_sim, connect) -> None:
    sensors = {sensor.key: sensor for sensor in connect(poweredge_sim).sensors()}

    cpu1, cpu2 = sensors["cpu1_temperature"], sensors["cpu2_temperature"]
    assert (cpu1.name, cpu1.entity_id, cpu1.entity_instance, cpu1.number) == (
        "Temp",
        3,
        1,
        0x0E,
    )
    assert (cpu2.name, cpu2.entity_id, cpu2.entity_instance, cpu2.number) == (
        "Temp",
        3,
        2,
        0x0F,
    )
    assert sensors["inlet_temperature"].name == "Inlet Temp"
    assert sensors["exhaust_temperature"].name == "Exhaust Temp"
    assert sensors["psu1_inlet_temp"].kind is SensorKind.OTHER_TEMPERATURE
    assert sensors["power_consumption"].name == "Pwr Consumption"
    assert sensors["power_consumption"].unit == "W"
    assert [s.key for s in sensors.values() if s.kind is SensorKind.FAN] == [
        f"fan{i}" for i in range(1, 7)
    ]


def test_r710_disabled_cpu_sensors_read_none(poweredge_sim_factory, connect) -> None:
    client = connect(poweredge_sim_factory("r710"))

    values = client.read(["cpu1_temperature", "cpu2_temperature", "inlet_temperature"])

    assert values["cpu1_temperature"] is None
    assert values["cpu2_temperature"] is None
    assert values["inlet_temperature"] == pytest.approx(24.0, abs=1.0)
    assert client.sensors()[-1].key == "power_consumption"  # "System Level" on iDRAC 6


def test_steady_state_poll_is_two_packets_per_sensor(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim)
    keys = [sensor.key for sensor in client.sensors()]
    client.read(keys)  # first poll after setup
    before = poweredge_sim.counters

    client.read(keys)

    after = poweredge_sim.counters
    assert after.packets_in - before.packets_in == len(keys)
    assert after.packets_out - before.packets_out == len(keys)
    assert after.commands[0x04, 0x2D] - before.commands[0x04, 0x2D] == len(keys)


def test_unknown_keys_read_none_without_traffic(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim)
    client.sensors()
    before = poweredge_sim.counters.packets_in

    assert client.read(["no_such_sensor"]) == {"no_such_sensor": None}
    assert poweredge_sim.counters.packets_in == before


def test_fan_commands_are_the_dell_raw_commands(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim)

    assert client.probe_fan_control() is FanControlCapability.SUPPORTED
    client.set_fan_mode_manual()
    client.set_fan_percent(40)
    assert (poweredge_sim.mode, poweredge_sim.fan_duty) == ("manual", 40.0)
    client.set_fan_mode_automatic()

    assert poweredge_sim.mode == "automatic"
    assert oem_requests(poweredge_sim) == [
        (0x30, b"\x01\x01", 0x00),
        (0x30, b"\x01\x00", 0x00),
        (0x30, b"\x02\xff\x28", 0x00),
        (0x30, b"\x01\x01", 0x00),
    ]
    assert client.per_fan_ids is None


@pytest.mark.parametrize("percent", [-1, 101, 50.5, True])
def test_fan_percent_is_validated_before_sending(
    poweredge_sim, connect, percent
) -> None:
    client = connect(poweredge_sim)
    with pytest.raises(ValueError, match="0-100"):
        client.set_fan_percent(percent)
    assert poweredge_sim.oem_log == []


def test_r510_refuses_all_fans_so_fan_ids_are_probed_once(
    poweredge_sim_factory, connect
) -> None:
    sim = poweredge_sim_factory("r510")
    client = connect(sim)
    client.set_fan_mode_manual()

    client.set_fan_percent(30)

    assert client.per_fan_ids == tuple(range(8))
    assert oem_requests(sim)[1:] == [
        (0x30, b"\x02\xff\x1e", 0xCC),
        *[(0x30, bytes((0x02, fan_id, 0x1E)), 0x00) for fan_id in range(8)],
        (0x30, b"\x02\x08\x1e", 0xCC),
    ]
    assert sim.fan_duties == [30.0] * 10

    before = len(sim.oem_log)
    client.set_fan_percent(45)

    assert oem_requests(sim)[before:] == [
        (0x30, bytes((0x02, fan_id, 0x2D)), 0x00) for fan_id in range(8)
    ]
    assert sim.fan_duties == [45.0] * 10


def test_r740_334_fan_control_not_permitted(poweredge_sim_factory, connect) -> None:
    sim = poweredge_sim_factory("r740-3.34")
    client = connect(sim)

    assert client.probe_fan_control() is FanControlCapability.NOT_PERMITTED
    with pytest.raises(IdracNotPermittedError, match="0xD4"):
        client.set_fan_mode_manual()
    with pytest.raises(IdracNotPermittedError):
        client.set_fan_percent(30)
    assert (
        client.read(["inlet_temperature"])["inlet_temperature"] is not None
    )  # session kept
    assert client.session_generation == 1


def test_unsupported_fan_commands_probe_as_unsupported(poweredge_sim, connect) -> None:
    poweredge_sim.override_completion_code(
        0x30, 0x30, 0xC1
    )  # a blade: the CMC owns the fans
    assert (
        connect(poweredge_sim).probe_fan_control() is FanControlCapability.UNSUPPORTED
    )


def test_other_completion_code_is_a_protocol_error(poweredge_sim, connect) -> None:
    poweredge_sim.override_completion_code(0x30, 0x30, 0xD5)
    with pytest.raises(IdracProtocolError, match="0xD5"):
        connect(poweredge_sim).probe_fan_control()


def test_pcie_cooling_response_get_and_set(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim)

    assert client.get_pcie_cooling_response() is True
    client.set_pcie_cooling_response(False)
    assert client.get_pcie_cooling_response() is False
    assert poweredge_sim.pcie_cooling_response is False
    client.set_pcie_cooling_response(True)

    assert oem_requests(poweredge_sim) == [
        (0xCE, bytes.fromhex("01 16 05 00 00 00"), 0x00),
        (0xCE, bytes.fromhex("00 16 05 00 00 00 05 00 01 00 00"), 0x00),
        (0xCE, bytes.fromhex("01 16 05 00 00 00"), 0x00),
        (0xCE, bytes.fromhex("00 16 05 00 00 00 05 00 00 00 00"), 0x00),
    ]
    assert poweredge_sim.pcie_cooling_response is True


def test_pcie_cooling_response_is_unsupported_on_14g(
    poweredge_sim_factory, connect
) -> None:
    client = connect(poweredge_sim_factory("r740"))
    with pytest.raises(IdracUnsupportedError):
        client.get_pcie_cooling_response()


def test_chassis_power_off_reads_none_not_zero(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim)
    keys = [sensor.key for sensor in client.sensors()]
    assert client.chassis_power_on() is True

    poweredge_sim.set_power(False)

    assert client.chassis_power_on() is False
    values = client.read(keys)
    assert values["inlet_temperature"] is not None
    assert {key for key, value in values.items() if value is None} == set(keys) - {
        "inlet_temperature"
    }


def test_connect_is_idempotent_and_close_releases_the_session(
    poweredge_sim, connect
) -> None:
    client = connect(poweredge_sim)

    client.connect()
    client.connect()
    assert len(poweredge_sim.open_sessions) == 1
    assert client.session_generation == 1

    client.close()
    client.close()
    assert poweredge_sim.open_sessions == []
    assert poweredge_sim.counters.sessions_total == 1


def test_reconnects_after_bmc_restart(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=0)
    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None
    sdr_reads = poweredge_sim.counters.commands[0x0A, 0x23]

    poweredge_sim.restart_bmc()
    with pytest.raises(IdracConnectionError):
        client.read(["inlet_temperature"])
    assert client.session_generation == 1

    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None
    assert client.session_generation == 2
    assert poweredge_sim.counters.commands[0x0A, 0x23] > sdr_reads  # SDR rebuilt
    assert len(poweredge_sim.open_sessions) == 1


def test_lost_replies_are_a_bounded_connection_error_and_leak_no_session(
    poweredge_sim, connect
) -> None:
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=1)
    client.sensors()
    poweredge_sim.set_faults(drop_rate=1.0)

    started = time.monotonic()
    with pytest.raises(IdracConnectionError, match="no answer"):
        client.read(["cpu1_temperature", "cpu2_temperature"])
    elapsed = time.monotonic() - started

    assert elapsed < 2 * FAST_TIMEOUT + 0.3  # one request, sent twice, then given up
    # Only the replies were lost: the Close Session sent on failure reached the BMC.
    assert wait_until(lambda: poweredge_sim.open_sessions == [])
    poweredge_sim.clear_faults()
    assert client.read(["cpu1_temperature"])["cpu1_temperature"] is not None


def test_unreachable_bmc_while_connecting_is_bounded(poweredge_sim, connect) -> None:
    poweredge_sim.set_faults(drop_rate=1.0)
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=1)

    started = time.monotonic()
    with pytest.raises(IdracConnectionError):
        client.connect()

    assert time.monotonic() - started < 2 * FAST_TIMEOUT + 0.3
    assert client.session_generation == 0


def test_closed_port_is_a_connection_error(socket_enabled) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = ConnectionSettings(
        host="127.0.0.1",
        port=port,
        username="root",
        password="calvin",
        timeout=FAST_TIMEOUT,
    )
    with IdracClient(settings) as client, pytest.raises(IdracConnectionError):
        client.connect()


@pytest.mark.parametrize("code", [0xC1, 0xCB], ids=["no-fru-command", "no-fru-0"])
def test_missing_fru_data_costs_only_the_model_name(
    poweredge_sim, connect, code: int
) -> None:
    poweredge_sim.override_completion_code(0x0A, 0x11, code)  # Read FRU Data
    client = connect(poweredge_sim)

    identity = client.identity()

    assert identity.is_dell
    assert identity.system_name == "r730-sim"
    assert (identity.product_name, identity.service_tag) == (None, None)
    assert client.session_generation == 1  # a refusal, not a broken session


def test_slow_replies_within_the_timeout_are_fine(poweredge_sim, connect) -> None:
    poweredge_sim.set_faults(delay=0.05)
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=0)
    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None


def test_garbage_replies_are_a_protocol_error(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=0)
    client.sensors()
    poweredge_sim.set_faults(garbage_rate=1.0)

    with pytest.raises(IdracProtocolError, match="unusable answer"):
        client.read(["inlet_temperature"])

    poweredge_sim.clear_faults()
    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None
    assert client.session_generation == 2


@pytest.mark.parametrize("length", [2, 20], ids=["runt", "cut-short"])
def test_truncated_replies_are_a_protocol_error(
    poweredge_sim, connect, length: int
) -> None:
    """python-ipmi raises struct.error on a runt; callers see our error either way."""
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=0)
    client.sensors()
    poweredge_sim.set_faults(truncate_rate=1.0, truncate_to=length)

    with pytest.raises(IdracProtocolError, match="unusable answer"):
        client.read(["inlet_temperature"])

    poweredge_sim.clear_faults()
    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None


def test_runt_replies_during_the_handshake_are_a_protocol_error(
    poweredge_sim, connect
) -> None:
    poweredge_sim.set_faults(truncate_rate=1.0, truncate_to=2)
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=0)

    with pytest.raises(IdracProtocolError, match="cannot open a session"):
        client.identity()

    poweredge_sim.clear_faults()
    assert client.identity().manufacturer_id == 674


@pytest.mark.parametrize(
    ("username", "password"),
    [("root", "wrong"), ("nobody", "calvin")],
    ids=["wrong-password", "unknown-user"],
)
@pytest.mark.parametrize("suite", SUITES, ids=lambda s: f"suite-{s or 'auto'}")
def test_refused_credentials_are_an_auth_error(
    poweredge_sim, connect, username, password, suite
) -> None:
    client = connect(
        poweredge_sim,
        username=username,
        password=password,
        cipher_suite=suite,
        retries=0,
        timeout=FAST_TIMEOUT,
    )
    with pytest.raises(IdracAuthError):
        client.connect()
    assert client.session_generation == 0


def test_full_session_table_is_a_connection_error(poweredge_sim, connect) -> None:
    poweredge_sim.set_faults(session_table_full=True)
    with pytest.raises(IdracConnectionError, match="no free session"):
        connect(poweredge_sim).connect()


def test_stock_python_ipmi_fails_at_suite_17_where_the_compat_layer_works(
    poweredge_sim, connect
) -> None:
    """End-to-end proof of defect 1 (compat.IpmitoolSessionKeys)."""
    interface = RmcpPlus(keep_alive_interval=0, cipher_suite=17)
    ipmi = pyipmi.create_connection(interface)
    ipmi.session.set_session_type_rmcp("127.0.0.1", poweredge_sim.port)
    ipmi.session.set_auth_type_user("root", "calvin")
    ipmi.target = pyipmi.Target(ipmb_address=0x20)
    interface.open()
    try:
        interface.set_timeout(FAST_TIMEOUT)
        with pytest.raises(RetryError):
            ipmi.session.establish()  # RAKP passes, Set Session Privilege is ignored
    finally:
        interface.close()
    # The session the stock code left behind (RAKP done, keys wrong) cannot be closed.
    stale = {session.managed_id for session in poweredge_sim.open_sessions}
    assert len(stale) == 1

    client = connect(poweredge_sim, cipher_suite=17)
    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None
    client.close()
    assert {session.managed_id for session in poweredge_sim.open_sessions} == stale
    poweredge_sim.restart_bmc()  # clears it, so the fixture's leak check is about us


def test_long_system_name_is_read_over_several_sets(poweredge_sim, connect) -> None:
    poweredge_sim.system_name = (
        "rack-7-unit-42-r730.lab.example"  # 31 bytes: sets 0 and 1
    )

    assert (
        connect(poweredge_sim).identity().system_name
        == "rack-7-unit-42-r730.lab.example"
    )


def test_unset_or_unsupported_system_name_is_none(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim)
    poweredge_sim.system_name = ""
    assert client.identity().system_name is None
    poweredge_sim.override_completion_code(0x06, 0x59, 0x80)  # parameter not supported
    assert client.identity().system_name is None


def test_sensor_gone_from_the_bmc_reads_none_and_rebuilds_the_sdr(
    poweredge_sim, connect
) -> None:
    client = connect(poweredge_sim)
    client.sensors()
    sdr_reads = poweredge_sim.counters.commands[0x0A, 0x23]
    poweredge_sim.override_completion_code(0x04, 0x2D, 0xCB)

    assert client.read(["inlet_temperature"]) == {"inlet_temperature": None}

    poweredge_sim.override_completion_code(0x04, 0x2D, None)
    assert client.read(["inlet_temperature"])["inlet_temperature"] is not None
    assert poweredge_sim.counters.commands[0x0A, 0x23] > sdr_reads
    assert client.session_generation == 1


def test_close_never_raises_when_the_bmc_is_gone(poweredge_sim, connect) -> None:
    client = connect(poweredge_sim, timeout=FAST_TIMEOUT, retries=0)
    client.connect()
    poweredge_sim.set_faults(drop_rate=1.0)

    started = time.monotonic()
    client.close()

    assert time.monotonic() - started < FAST_TIMEOUT + 0.3
    poweredge_sim.clear_faults()
    # The Close Session request itself arrived; only its answer was lost.
    assert wait_until(lambda: poweredge_sim.open_sessions == [])


def test_refused_handshake_command_is_a_protocol_error(poweredge_sim, connect) -> None:
    poweredge_sim.override_completion_code(
        0x06, 0x38, 0xD5
    )  # Get Channel Auth Capabilities

    with pytest.raises(IdracProtocolError, match="cannot open a session"):
        connect(poweredge_sim).connect()


def test_bmc_refusing_every_fan_id_is_a_protocol_error(poweredge_sim, connect) -> None:
    poweredge_sim.override_completion_code(0x30, 0x30, 0xCC)
    client = connect(poweredge_sim)

    with pytest.raises(IdracProtocolError, match="refuses fan 0xFF"):
        client.set_fan_percent(30)

    assert [e.data for e in poweredge_sim.oem_log] == [b"\x02\xff\x1e", b"\x02\x00\x1e"]
    assert client.per_fan_ids is None


def test_idle_session_is_renewed_before_the_bmc_drops_it(poweredge_sim) -> None:
    now = [1000.0]
    client = IdracClient(settings_for(poweredge_sim), clock=lambda: now[0])
    try:
        client.connect()
        now[0] += 44.0
        assert client.read(["inlet_temperature"])["inlet_temperature"] is not None
        now[0] += 44.0  # idle time counts from the last request, not from connect
        client.read(["inlet_temperature"])
        assert client.session_generation == 1
        sdr_reads = poweredge_sim.counters.commands[0x0A, 0x23]

        now[0] += 45.0
        assert client.read(["inlet_temperature"])["inlet_temperature"] is not None

        assert client.session_generation == 2
        assert poweredge_sim.counters.sessions_total == 2
        assert poweredge_sim.counters.commands[0x0A, 0x23] == sdr_reads  # SDR kept
        assert wait_until(lambda: len(poweredge_sim.open_sessions) == 1)
    finally:
        client.close()
    assert poweredge_sim.open_sessions == []
