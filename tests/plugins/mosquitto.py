"""pytest fixtures that run Debian's mosquitto on 127.0.0.1 at the seed's four security levels.

The levels are cumulative, as the seed's "Upgrade" arrows draw them: each one keeps what the
previous level required and adds one defence.

    anonymous   no authentication, plain TCP
    password    username/password from a mosquitto_passwd file
    tls         password, over TLS with a server certificate signed by a test CA
    mutual_tls  password, over TLS, and a client certificate signed by the same CA is required

Every broker needs sockets, so the factory requests PHCC's ``socket_enabled``. Brokers and
subscribers are stopped at teardown, before PHCC's ``verify_cleanup`` looks for leftover threads.
``start()``/``stop()`` block for a few milliseconds: async tests call them through
``hass.async_add_executor_job``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import StrEnum
import json
import socket
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
import pytest

if TYPE_CHECKING:
    from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
OPENSSL = "openssl"
BROKER_HOST = "127.0.0.1"  # PHCC lets tests connect to this literal address only.
BROKER_USERNAME = "dell-fan-control"
BROKER_PASSWORD = "correct horse battery staple"
READY_TIMEOUT = 5.0


class MosquittoLevel(StrEnum):
    """The seed's security levels, weakest first."""

    ANONYMOUS = "anonymous"
    PASSWORD = "password"
    TLS = "tls"
    MUTUAL_TLS = "mutual_tls"

    @property
    def requires_password(self) -> bool:
        """Every level above anonymous keeps the password file."""
        return self is not MosquittoLevel.ANONYMOUS

    @property
    def uses_tls(self) -> bool:
        """TLS and mutual TLS listen with the server certificate."""
        return self in (MosquittoLevel.TLS, MosquittoLevel.MUTUAL_TLS)

    @property
    def requires_client_certificate(self) -> bool:
        """Only mutual TLS refuses clients without a certificate from the CA."""
        return self is MosquittoLevel.MUTUAL_TLS


@dataclass(frozen=True, slots=True, kw_only=True)
class MosquittoPki:
    """A test CA, the broker's certificate for IP 127.0.0.1, a client certificate, and a stranger CA."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    untrusted_ca_cert: Path


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as a subscriber saw it; retain is True only for a retained message replayed on subscribe."""

    topic: str
    payload: bytes
    retain: bool

    def json(self) -> Any:
        """Decode the payload as JSON."""
        return json.loads(self.payload)


class MqttSubscriber:
    """A paho client in its own thread that records every message on the topics it follows."""

    def __init__(self, broker: MosquittoBroker, topics: tuple[str, ...]) -> None:
        self._topics = topics
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self._client.reconnect_delay_set(min_delay=1, max_delay=1)
        if broker.level.requires_password:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.level.uses_tls:
            self._client.tls_set(
                ca_certs=str(broker.pki.ca_cert),
                certfile=str(broker.pki.client_cert),
                keyfile=str(broker.pki.client_key),
            )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        if not self._subscribed.wait(READY_TIMEOUT):
            self.stop()
            raise TimeoutError(
                f"subscriber could not subscribe to {topics} on {broker}"
            )

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        # Subscribing here, not once, restores the subscription after a broker restart.
        client.subscribe([(topic, 0) for topic in self._topics])

    def _on_message(
        self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage
    ) -> None:
        with self._lock:
            self._messages.append(
                ReceivedMessage(message.topic, message.payload, bool(message.retain))
            )

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A copy of everything received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def on_topic(self, topic: str) -> list[ReceivedMessage]:
        """The messages received on one topic, oldest first."""
        return [message for message in self.messages if message.topic == topic]

    async def wait_for(
        self,
        topic: str,
        predicate: Callable[[ReceivedMessage], bool] = lambda _message: True,
    ) -> ReceivedMessage:
        """Wait, without blocking the event loop, for the first message on topic that matches (5 s at most)."""
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                for message in self.on_topic(topic):
                    if predicate(message):
                        return message
                await asyncio.sleep(0.02)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at qos 1 and wait for the broker's acknowledgement."""
        self._client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(
            READY_TIMEOUT
        )

    def stop(self) -> None:
        """Disconnect and join the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


class MosquittoBroker:
    """One mosquitto process; stop() and start() keep the port so clients can reconnect."""

    def __init__(
        self, *, level: MosquittoLevel, pki: MosquittoPki, workdir: Path
    ) -> None:
        self.level = level
        self.pki = pki
        self.workdir = workdir
        self.host = BROKER_HOST
        self.port = _free_loopback_port()
        self.username: str | None = None
        self.password: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._subscribers: list[MqttSubscriber] = []
        if level.requires_password:
            self.username, self.password = BROKER_USERNAME, BROKER_PASSWORD
            _run(
                MOSQUITTO_PASSWD,
                "-c",
                "-b",
                str(self.password_file),
                self.username,
                self.password,
            )
        self.config_file.write_text(self._config(), encoding="utf-8")

    def __str__(self) -> str:
        return f"mosquitto[{self.level}] {self.host}:{self.port}"

    @property
    def password_file(self) -> Path:
        """The mosquitto_passwd file (levels above anonymous)."""
        return self.workdir / "passwords"

    @property
    def config_file(self) -> Path:
        """mosquitto.conf for this broker."""
        return self.workdir / "mosquitto.conf"

    @property
    def log_file(self) -> Path:
        """The broker's log, worth reading when a test fails."""
        return self.workdir / "mosquitto.log"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def _config(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # Started as root inside the chroot: stay root so the 0700 pytest tmp dirs stay readable.
            "user root",
        ]
        if self.level.requires_password:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines += ["allow_anonymous true"]
        if self.level.uses_tls:
            lines += [
                f"cafile {self.pki.ca_cert}",
                f"certfile {self.pki.server_cert}",
                f"keyfile {self.pki.server_key}",
            ]
        if self.level.requires_client_certificate:
            lines += ["require_certificate true"]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        """Start the broker (again) on its port and wait until it accepts connections."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not _accepts_connections(self.host, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = (
                    self.log_file.read_text(encoding="utf-8")
                    if self.log_file.exists()
                    else ""
                )
                raise RuntimeError(f"{self} did not start:\n{log}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Terminate the broker and reap it; clients see the connection drop."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def subscribe(self, *topics: str) -> MqttSubscriber:
        """Follow topics (wildcards allowed) with a client authorised for this level; stopped at teardown."""
        subscriber = MqttSubscriber(self, topics)
        self._subscribers.append(subscriber)
        return subscriber

    def close(self) -> None:
        """Stop every subscriber, then the broker."""
        while self._subscribers:
            self._subscribers.pop().stop()
        self.stop()


type MosquittoFactory = Callable[[MosquittoLevel], MosquittoBroker]


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _free_loopback_port() -> int:
    """Ask the kernel for an unused port; mosquitto binds it a moment later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((BROKER_HOST, 0))
        return int(probe.getsockname()[1])


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.1):
            return True
    except OSError:
        return False


def _make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _run(
        OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _make_leaf(
    directory: Path, name: str, ca: tuple[Path, Path], extensions: str
) -> tuple[Path, Path]:
    cert, key, csr = (
        directory / f"{name}.crt",
        directory / f"{name}.key",
        directory / f"{name}.csr",
    )
    extfile = directory / f"{name}.ext"
    extfile.write_text(extensions, encoding="utf-8")
    _run(
        OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}",
    )  # fmt: skip
    _run(
        OPENSSL, "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-days", "2", "-out", str(cert), "-extfile", str(extfile),
    )  # fmt: skip
    return cert, key


def create_pki(directory: Path) -> MosquittoPki:
    """Make the CA, broker and client certificates, and a stranger CA, with openssl (EC P-256)."""
    ca = _make_ca(directory, "test-ca")
    server_cert, server_key = _make_leaf(
        directory,
        "broker",
        ca,
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    client_cert, client_key = _make_leaf(
        directory, "home-assistant", ca, "extendedKeyUsage=clientAuth\n"
    )
    untrusted_ca_cert, _ = _make_ca(directory, "stranger-ca")
    return MosquittoPki(
        ca_cert=ca[0],
        server_cert=server_cert,
        server_key=server_key,
        client_cert=client_cert,
        client_key=client_key,
        untrusted_ca_cert=untrusted_ca_cert,
    )


@pytest.fixture(scope="session")
def mosquitto_pki(tmp_path_factory: pytest.TempPathFactory) -> MosquittoPki:
    """Certificates made once per session (a few milliseconds each)."""
    return create_pki(tmp_path_factory.mktemp("mosquitto-pki"))


@pytest.fixture
def mosquitto_factory(
    socket_enabled: None, mosquitto_pki: MosquittoPki, tmp_path: Path
) -> Generator[MosquittoFactory]:
    """Start brokers on demand: ``broker = mosquitto_factory(MosquittoLevel.TLS)``; all closed at teardown."""
    brokers: list[MosquittoBroker] = []

    def start_broker(level: MosquittoLevel) -> MosquittoBroker:
        workdir = tmp_path / f"mosquitto-{len(brokers)}-{level}"
        workdir.mkdir()
        broker = MosquittoBroker(level=level, pki=mosquitto_pki, workdir=workdir)
        brokers.append(broker)
        broker.start()
        return broker

    yield start_broker
    for broker in brokers:
        broker.close()
