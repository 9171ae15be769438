"""How python-ipmi's session-setup failures map to our typed errors."""

from __future__ import annotations

from pyipmi.errors import (
    AuthenticationError,
    CompletionCodeError,
    DecodingError,
    IpmiConnectionError,
    IpmiLongPasswordError,
    MessageStatusCodeError,
    NotSupportedError,
    RetryError,
)
import pytest

from custom_components.dell_fan_control.idrac.client import _handshake_error
from custom_components.dell_fan_control.idrac.completion import checked
from custom_components.dell_fan_control.idrac.models import (
    IdracAuthError,
    IdracConnectionError,
    IdracNotPermittedError,
    IdracProtocolError,
    IdracUnsupportedError,
)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AuthenticationError("RAKP 2 mismatch"), IdracAuthError),
        (IpmiLongPasswordError("password longer than 20 bytes"), IdracAuthError),
        (MessageStatusCodeError(0x0D), IdracAuthError),  # unauthorized name
        (MessageStatusCodeError(0x0F), IdracAuthError),  # invalid integrity check value
        (MessageStatusCodeError(0x01), IdracConnectionError),  # no free session
        (MessageStatusCodeError(0x11), IdracProtocolError),  # no cipher suite match
        (CompletionCodeError(0x81), IdracAuthError),  # privilege above the user's limit
        (CompletionCodeError(0xD5), IdracProtocolError),
        (RetryError(), IdracConnectionError),
        (TimeoutError(), IdracConnectionError),
        (ConnectionRefusedError(), IdracConnectionError),
        (IpmiConnectionError("no pong"), IdracConnectionError),
        (DecodingError("short RAKP message 2"), IdracProtocolError),
        (NotSupportedError("cipher suite 5"), IdracProtocolError),
    ],
)
def test_handshake_errors_are_typed(error: Exception, expected: type) -> None:
    translated = _handshake_error(error, "127.0.0.1:623")
    assert type(translated) is expected
    assert "127.0.0.1:623" in str(translated)


def test_unexpected_handshake_errors_are_not_hidden() -> None:
    assert _handshake_error(KeyboardInterrupt(), "h:623") is None
    assert _handshake_error(ValueError("bug"), "h:623") is None


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (b"", IdracProtocolError),
        (b"\xd4", IdracNotPermittedError),
        (b"\xc1", IdracUnsupportedError),
        (b"\xcc", IdracProtocolError),
        (b"\x00\x01", IdracProtocolError),  # shorter than needed
    ],
)
def test_checked_answers(response: bytes, expected: type) -> None:
    with pytest.raises(expected) as raised:
        checked(response, "Command", min_length=2)
    assert type(raised.value) is expected


def test_checked_returns_the_data() -> None:
    assert checked(b"\x00\x01\x02", "Command", min_length=2) == b"\x01\x02"
