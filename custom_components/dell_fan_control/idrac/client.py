"""Synchronous iDRAC client: one persistent RMCP+ session per server.

Home Assistant calls it from its executor. Every public method holds the client's
lock, so calls from several threads are serialised (close() waits for a running
poll); nothing here starts a thread or sleeps.

There is no keep-alive thread: the integration polls every few seconds, which keeps
the session alive. When calls are further apart than the BMC's session inactivity
timeout, the session is renewed before the next request instead of timing out on it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
import logging
import struct
import threading
import time
from typing import TYPE_CHECKING, Any, Self
import uuid

import pyipmi
from pyipmi.errors import (
    AuthenticationError,
    CompletionCodeError,
    DataNotFound,
    DecodingError,
    IpmiConnectionError,
    IpmiLongPasswordError,
    MessageStatusCodeError,
    NotSupportedError,
    RetryError,
)
from pyipmi.msgs import constants

from . import dell_oem
from .compat import DellRmcpPlus, decode_sensor_reading
from .completion import (
    CC_INSUFFICIENT_PRIVILEGE,
    CC_INVALID_COMMAND,
    CC_INVALID_DATA_FIELD,
    CC_NOT_PRESENT,
    CC_OK,
    checked,
    completion_error,
)
from .models import (
    ConnectionSettings,
    DeviceIdentity,
    FanControlCapability,
    IdracAuthError,
    IdracConnectionError,
    IdracError,
    IdracProtocolError,
    SensorInfo,
    SensorSample,
    SensorStatus,
)
from .sensors import CatalogEntry, build_catalog, read_sdr_repository, to_sample

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

_LOGGER = logging.getLogger(__name__)

BMC_ADDRESS = 0x20
NETFN_CHASSIS = 0x00
NETFN_SENSOR = 0x04
NETFN_APP = 0x06
GET_CHASSIS_STATUS = bytes((0x01,))
GET_SENSOR_READING = 0x2D
GET_DEVICE_ID = bytes((0x01,))
GET_SYSTEM_GUID = bytes((0x37,))
GET_SYSTEM_INFO = 0x59
SYSTEM_INFO_SYSTEM_NAME = 0x02
SYSTEM_NAME_FIRST_BLOCK = 14  # string bytes in set 0, after encoding and length
SYSTEM_NAME_NEXT_BLOCK = 16
SYSTEM_NAME_ENCODINGS = {0: "latin-1", 1: "utf-8", 2: "utf-16-le"}
CC_ILLEGAL_SENSOR = 0xCD

# Errors that mean the session or the link is gone: close it, reconnect next call.
_CONNECTION_ERRORS = (OSError, RetryError, IpmiConnectionError)
# Answers we could not decode: the session state is unknown, so it is dropped too.
# python-ipmi 0.6.1 lets struct.error out of RmcpMsg.unpack on a runt datagram (fewer
# than 4 bytes). Other untyped errors stay untranslated, so a bug is not hidden; the
# coordinator still counts them as failed polls.
_GARBLED_ERRORS = (
    DecodingError,
    AuthenticationError,
    CompletionCodeError,
    struct.error,
)
_AUTH_STATUS_CODES = frozenset(
    {
        constants.MSC_INVALID_ROLE,
        constants.MSC_UNAUTHORIZED_ROLE,
        constants.MSC_INVALID_NAME_LENGTH,
        constants.MSC_UNAUTHORIZED_NAME,
        constants.MSC_INVALID_INTEGRITY_CHECK_VALUE,
    }
)
_NO_FREE_SESSION_STATUS_CODES = frozenset(
    {
        constants.MSC_INSUFFICIENT_RESOURCES,
        constants.MSC_INSUFFICIENT_RESOURCES_FOR_ROLE,
    }
)
# BMCs close sessions idle for 60 s (IPMI v2.0 §6.12.15); renew ours well before.
SESSION_IDLE_RENEWAL = 45.0
# Set Session Privilege Level: the user may not be Administrator on this channel.
_PRIVILEGE_REFUSED_CODES = frozenset({0x80, 0x81, 0x82})

_SENSOR_NOT_READABLE = SensorSample(value=None, status=SensorStatus.NO_READING)


@dataclass(frozen=True, slots=True)
class _Link:
    """The established connection operations send their requests over."""

    ipmi: Any  # pyipmi.Ipmi, untyped

    def send(self, netfn: int, data: bytes, lun: int = 0) -> bytes:
        """send_raw: the command byte first in, the completion code first out."""
        return bytes(self.ipmi.send_raw(lun, netfn, data))


class IdracClient:
    """One iDRAC over IPMI-LAN (RMCP+).

    Every method except close() may raise IdracConnectionError (no answer in time; the
    session was closed and the next call opens a new one), IdracAuthError (while a
    session is opened) or IdracProtocolError and its subclasses (an answer we cannot
    use; IdracNotPermittedError for completion code 0xD4, IdracUnsupportedError for
    0xC1).
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._last_used = 0.0
        self._lock = threading.RLock()
        self._interface: DellRmcpPlus | None = None
        self._link: _Link | None = None
        self._catalog: dict[str, CatalogEntry] | None = None
        self._fan_ids: tuple[int, ...] | None = None
        self._session_generation = 0
        self._cipher_suite: int | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def session_generation(self) -> int:
        """Increases with every new session: a changed value means the BMC was reconnected."""
        return self._session_generation

    @property
    def cipher_suite(self) -> int | None:
        """Cipher suite of the current or last session, None before the first one."""
        return self._cipher_suite

    @property
    def per_fan_ids(self) -> tuple[int, ...] | None:
        """Fan ids found after the BMC refused "all fans" (0xFF); None while 0xFF works."""
        return self._fan_ids

    def connect(self) -> None:
        """Open the session if none is open (idempotent)."""
        with self._lock:
            self._ensure_link()

    def close(self) -> None:
        """Close the session and the socket. Never raises; a later call reconnects."""
        with self._lock:
            interface, link = self._interface, self._link
            self._interface = self._link = None
            self._catalog = None
            if interface is None or link is None:
                return
            try:
                link.ipmi.session.close()
            except Exception:
                _LOGGER.debug(
                    "Close Session to %s failed", self._settings.host, exc_info=True
                )
            finally:
                _close_socket(interface)

    def identity(self) -> DeviceIdentity:
        """Get Device ID, Get System GUID, the "System Name" parameter and FRU 0's product area."""

        def operation(link: _Link) -> DeviceIdentity:
            device = checked(link.send(NETFN_APP, GET_DEVICE_ID), "Get Device ID", 11)
            guid = checked(link.send(NETFN_APP, GET_SYSTEM_GUID), "Get System GUID", 16)
            return DeviceIdentity(
                manufacturer_id=int.from_bytes(device[6:9], "little") & 0xFFFFF,
                product_id=int.from_bytes(device[9:11], "little"),
                firmware=f"{device[2] & 0x7F}.{device[3]:02x}",
                # SMBIOS byte order, as dmidecode and the iDRAC web UI show it.
                guid=str(uuid.UUID(bytes_le=guid[:16])),
                system_name=_system_name(link),
                **_fru_product(link, self._where),
            )

        return self._transact(operation)

    def chassis_power_on(self) -> bool:
        """Whether the server (not the iDRAC) is powered on: Get Chassis Status."""
        return self._transact(
            lambda link: bool(
                checked(
                    link.send(NETFN_CHASSIS, GET_CHASSIS_STATUS),
                    "Get Chassis Status",
                    1,
                )[0]
                & 0x01
            )
        )

    def sensors(self) -> list[SensorInfo]:
        """The readable sensors; the SDR is read once per session and cached."""
        return self._transact(
            lambda link: [entry.info for entry in self._catalog_for(link).values()]
        )

    def read(self, keys: Iterable[str]) -> dict[str, float | None]:
        """One Get Sensor Reading per key; None when there is no reading or no such key."""
        return {key: sample.value for key, sample in self.samples(keys).items()}

    def samples(self, keys: Iterable[str]) -> dict[str, SensorSample]:
        """Like read(), with the threshold status of each reading."""

        def operation(link: _Link) -> dict[str, SensorSample]:
            catalog = self._catalog_for(link)
            samples: dict[str, SensorSample] = {}
            for key in dict.fromkeys(keys):
                entry = catalog.get(key)
                if entry is None:
                    samples[key] = _SENSOR_NOT_READABLE
                    continue
                response = link.send(
                    NETFN_SENSOR,
                    bytes((GET_SENSOR_READING, entry.info.number)),
                    entry.record.owner_lun,
                )
                if response[:1] in (
                    bytes((CC_NOT_PRESENT,)),
                    bytes((CC_ILLEGAL_SENSOR,)),
                ):
                    # The SDR no longer matches the BMC: rebuild it on the next call.
                    self._catalog = None
                samples[key] = to_sample(entry, decode_sensor_reading(response))
            return samples

        return self._transact(operation)

    def set_fan_mode_manual(self) -> None:
        """Take the fans from Dell's automatic control (raw 0x30 0x30 0x01 0x00)."""
        self._oem(dell_oem.MANUAL_MODE, "Set fan mode manual")

    def set_fan_mode_automatic(self) -> None:
        """Give the fans back to Dell's automatic control (raw 0x30 0x30 0x01 0x01)."""
        self._oem(dell_oem.AUTOMATIC_MODE, "Set fan mode automatic")

    def set_fan_percent(self, percent: int) -> None:
        """Set every fan to percent (0-100), per fan id when the BMC refuses 0xFF.

        Raises:
            ValueError: percent is not an integer from 0 to 100.
        """
        if (
            isinstance(percent, bool)
            or not isinstance(percent, int)
            or not 0 <= percent <= 100
        ):
            raise ValueError(f"fan percent must be an integer 0-100, got {percent!r}")

        def operation(link: _Link) -> None:
            if self._fan_ids is None:
                response = link.send(
                    dell_oem.NETFN_DELL_OEM,
                    dell_oem.fan_speed(dell_oem.ALL_FANS, percent),
                )
                if response[:1] != bytes((CC_INVALID_DATA_FIELD,)):
                    checked(response, "Set all fans speed")
                    return
                self._fan_ids = _probe_fan_ids(link, percent)
                _LOGGER.debug(
                    "%s refuses fan 0xFF, uses fan ids %s",
                    self._settings.host,
                    self._fan_ids,
                )
                return
            for fan_id in self._fan_ids:
                checked(
                    link.send(
                        dell_oem.NETFN_DELL_OEM, dell_oem.fan_speed(fan_id, percent)
                    ),
                    f"Set fan 0x{fan_id:02X} speed",
                )

        self._transact(operation)

    def probe_fan_control(self) -> FanControlCapability:
        """Send "automatic", which is safe at any time, and classify the answer."""

        def operation(link: _Link) -> FanControlCapability:
            response = link.send(dell_oem.NETFN_DELL_OEM, dell_oem.AUTOMATIC_MODE)
            if not response:
                raise IdracProtocolError("Set fan mode automatic: empty response")
            capability = _CAPABILITY_BY_CODE.get(response[0])
            if capability is None:
                raise completion_error(response[0], "Set fan mode automatic")
            return capability

        return self._transact(operation)

    def get_pcie_cooling_response(self) -> bool:
        """Whether Dell's default cooling response to third-party PCIe cards is on."""
        return self._transact(
            lambda link: dell_oem.pcie_cooling_enabled(
                checked(
                    link.send(dell_oem.NETFN_DELL_OEM, dell_oem.PCIE_COOLING_GET),
                    "Get PCIe cooling response",
                    dell_oem.PCIE_COOLING_ANSWER_LENGTH,
                )
            )
        )

    def set_pcie_cooling_response(self, enabled: bool) -> None:
        """Turn Dell's default cooling response to third-party PCIe cards on or off."""
        self._oem(dell_oem.set_pcie_cooling(enabled), "Set PCIe cooling response")

    def _oem(self, request: bytes, command: str) -> None:
        self._transact(
            lambda link: checked(link.send(dell_oem.NETFN_DELL_OEM, request), command)
        )

    def _catalog_for(self, link: _Link) -> dict[str, CatalogEntry]:
        if self._catalog is None:
            entries = build_catalog(read_sdr_repository(link.send))
            self._catalog = {entry.info.key: entry for entry in entries}
        return self._catalog

    def _transact[T](self, operation: Callable[[_Link], T]) -> T:
        """Run operation on the session; on any failure but a completion code, drop it."""
        with self._lock:
            link = self._ensure_link()
            session_usable = False
            try:
                result = operation(link)
                session_usable = True
                self._last_used = self._clock()
            except IdracError:
                session_usable = True  # a completion code: the session works
                self._last_used = self._clock()
                raise
            except _CONNECTION_ERRORS as err:
                raise IdracConnectionError(
                    f"{self._where}: no answer ({err!r})"
                ) from err
            except _GARBLED_ERRORS as err:
                raise IdracProtocolError(
                    f"{self._where}: unusable answer ({err!r})"
                ) from err
            finally:
                if not session_usable:
                    self._abandon_session()
                    self._catalog = None  # rebuilt: the BMC may have restarted
            return result

    def _ensure_link(self) -> _Link:
        if (
            self._link is not None
            and self._clock() - self._last_used >= SESSION_IDLE_RENEWAL
        ):
            _LOGGER.debug("Session to %s idle, renewing it", self._where)
            self._abandon_session()  # the SDR cache stays: nothing failed
        if self._link is not None:
            return self._link
        settings = self._settings
        interface: DellRmcpPlus | None = None
        try:
            interface = DellRmcpPlus(
                cipher_suite=settings.cipher_suite, max_retries=settings.retries
            )
            ipmi = pyipmi.create_connection(interface)
            ipmi.session.set_session_type_rmcp(settings.host, settings.port)
            ipmi.session.set_auth_type_user(settings.username, settings.password)
            ipmi.target = pyipmi.Target(ipmb_address=BMC_ADDRESS)
            interface.open()
            interface.set_timeout(settings.timeout)
            ipmi.session.establish()
        except BaseException as err:
            if interface is not None:
                _close_socket(interface)
            translated = _handshake_error(err, self._where)
            if translated is None:
                raise
            raise translated from err
        self._interface = interface
        self._link = _Link(ipmi)
        self._last_used = self._clock()
        self._session_generation += 1
        self._cipher_suite = interface.negotiated_cipher_suite
        _LOGGER.debug(
            "Session %d to %s open, cipher suite %s",
            self._session_generation,
            self._where,
            self._cipher_suite,
        )
        return self._link

    def _abandon_session(self) -> None:
        """Tell the BMC to close the session without waiting, close the socket, forget it."""
        interface = self._interface
        self._interface = self._link = None
        if interface is not None:
            interface.abandon_session()
            _close_socket(interface)

    @property
    def _where(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"


_CAPABILITY_BY_CODE = {
    CC_OK: FanControlCapability.SUPPORTED,
    CC_INSUFFICIENT_PRIVILEGE: FanControlCapability.NOT_PERMITTED,
    CC_INVALID_COMMAND: FanControlCapability.UNSUPPORTED,
}


def _probe_fan_ids(link: _Link, percent: int) -> tuple[int, ...]:
    """Set fan ids 0x00, 0x01... to percent until the BMC refuses one with 0xCC."""
    fan_ids: list[int] = []
    for fan_id in dell_oem.FAN_ID_PROBE_RANGE:
        response = link.send(
            dell_oem.NETFN_DELL_OEM, dell_oem.fan_speed(fan_id, percent)
        )
        if response[:1] == bytes((CC_INVALID_DATA_FIELD,)):
            break
        checked(response, f"Set fan 0x{fan_id:02X} speed")
        fan_ids.append(fan_id)
    if not fan_ids:
        raise IdracProtocolError("BMC refuses fan 0xFF (all) and fan 0x00 with 0xCC")
    return tuple(fan_ids)


def _system_name(link: _Link) -> str | None:
    """Get System Info Parameters, parameter 2, sets 0..n; None if unset or unsupported."""
    request = bytes((GET_SYSTEM_INFO, 0x00, SYSTEM_INFO_SYSTEM_NAME, 0x00, 0x00))
    response = link.send(NETFN_APP, request)
    if response[:1] != bytes((CC_OK,)) or len(response) < 5:
        return None
    encoding = SYSTEM_NAME_ENCODINGS.get(response[3] & 0x0F, "latin-1")
    length = response[4]
    text = bytearray(response[5 : 5 + min(length, SYSTEM_NAME_FIRST_BLOCK)])
    set_selector = 1
    while len(text) < length:
        request = bytes(
            (GET_SYSTEM_INFO, 0x00, SYSTEM_INFO_SYSTEM_NAME, set_selector, 0x00)
        )
        block = checked(
            link.send(NETFN_APP, request), "Get System Info (System Name)", 2
        )[2:]
        if not block:
            break
        text += block[:SYSTEM_NAME_NEXT_BLOCK]
        set_selector += 1
    name = bytes(text[:length]).decode(encoding, errors="replace").strip("\x00 \t\r\n")
    return name or None


def _fru_product(link: _Link, where: str) -> dict[str, str | None]:
    """Product name and serial (the Service Tag) from FRU 0: nice to have, never required.

    A BMC without FRU data, or with a malformed one, only costs the model name; a lost
    link still fails the call.
    """
    try:
        area = link.ipmi.get_fru_product_area(fru_id=0)
    except (CompletionCodeError, DecodingError, DataNotFound, struct.error) as err:
        _LOGGER.debug("No FRU product data from %s: %r", where, err)
        return {"product_name": None, "service_tag": None}
    return {
        "product_name": str(area.name).strip() or None,
        "service_tag": str(area.serial_number).strip() or None,
    }


def _close_socket(interface: DellRmcpPlus) -> None:
    with contextlib.suppress(OSError):
        interface.close()


def _handshake_error(err: BaseException, where: str) -> IdracError | None:
    """Our error for a failure while opening a session; None to re-raise it unchanged."""
    if isinstance(err, (AuthenticationError, IpmiLongPasswordError)):
        return IdracAuthError(f"{where}: authentication failed ({err})")
    if isinstance(err, MessageStatusCodeError):
        if err.msc in _AUTH_STATUS_CODES:
            return IdracAuthError(f"{where}: user or password refused ({err})")
        if err.msc in _NO_FREE_SESSION_STATUS_CODES:
            return IdracConnectionError(f"{where}: BMC has no free session ({err})")
        return IdracProtocolError(f"{where}: session refused ({err})")
    if isinstance(err, CompletionCodeError) and err.cc in _PRIVILEGE_REFUSED_CODES:
        return IdracAuthError(
            f"{where}: user may not use the Administrator privilege ({err})"
        )
    if isinstance(err, _CONNECTION_ERRORS):
        return IdracConnectionError(f"{where}: no answer ({err!r})")
    if isinstance(
        err, (DecodingError, CompletionCodeError, NotSupportedError, struct.error)
    ):
        return IdracProtocolError(f"{where}: cannot open a session ({err!r})")
    return None
