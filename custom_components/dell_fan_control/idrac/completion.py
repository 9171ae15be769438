"""IPMI completion codes to typed errors."""

from __future__ import annotations

from .models import IdracNotPermittedError, IdracProtocolError, IdracUnsupportedError

CC_OK = 0x00
CC_INVALID_COMMAND = 0xC1
CC_RESERVATION_CANCELED = 0xC5
CC_CANNOT_RETURN_BYTES = 0xCA
CC_NOT_PRESENT = 0xCB
CC_INVALID_DATA_FIELD = 0xCC
CC_INSUFFICIENT_PRIVILEGE = 0xD4


def completion_error(code: int, command: str) -> IdracProtocolError:
    """The error for a non-zero completion code of command."""
    message = f"{command}: completion code 0x{code:02X}"
    if code == CC_INSUFFICIENT_PRIVILEGE:
        return IdracNotPermittedError(message)
    if code == CC_INVALID_COMMAND:
        return IdracUnsupportedError(message)
    return IdracProtocolError(message)


def checked(response: bytes, command: str, min_length: int = 0) -> bytes:
    """The data of a send_raw response (completion code first), or the typed error.

    Args:
        response: The answer, starting with the completion code.
        command: What was sent, for the error message.
        min_length: How many data bytes the caller needs.

    Raises:
        IdracProtocolError: Empty answer, non-zero completion code or short data.
    """
    if not response:
        raise IdracProtocolError(f"{command}: empty response")
    if response[0] != CC_OK:
        raise completion_error(response[0], command)
    data = response[1:]
    if len(data) < min_length:
        raise IdracProtocolError(
            f"{command}: {len(data)} data bytes, expected {min_length}"
        )
    return data
