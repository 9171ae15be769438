"""FRU 0 of a Dell PowerEdge: the board and product info areas `ipmitool fru print 0` shows.

Encoded here from the Platform Management FRU Information Storage Definition v1.0, not with
any client library, so that the client's decoder is checked against an independent encoder.
On Dell servers the product serial number is the Service Tag.
"""

from __future__ import annotations

from dataclasses import dataclass

_FORMAT_VERSION = 0x01
_ENGLISH = 0x00
_END_OF_FIELDS = 0xC1
_ASCII_8BIT = 0xC0  # type/length byte: type 11b, then the length in the low 6 bits
_MAX_FIELD = 0x3F
_MFG_MINUTES = 10_211_040  # 2015-06-01 in minutes since 1996-01-01; any date will do


@dataclass(frozen=True, slots=True)
class FruIdentity:
    """What a PowerEdge's FRU 0 says about it."""

    product: str
    service_tag: str
    board_serial: str
    board_part: str


def _field(text: str) -> bytes:
    data = text.encode("ascii")
    if len(data) > _MAX_FIELD:
        raise ValueError(f"FRU field too long: {text!r}")
    return bytes([_ASCII_8BIT | len(data)]) + data


def _zero_checksum(data: bytes) -> int:
    return -sum(data) & 0xFF


def _area(body: bytes) -> bytes:
    """Version, length in 8-byte units, body, end marker, padding, checksum."""
    unpadded = 2 + len(body) + 1 + 1
    length = -(-unpadded // 8) * 8
    area = bytes([_FORMAT_VERSION, length // 8]) + body + bytes([_END_OF_FIELDS])
    area = area.ljust(length - 1, b"\0")
    return area + bytes([_zero_checksum(area)])


def fru_image(identity: FruIdentity) -> bytes:
    """The whole FRU 0 inventory: common header, board area, product area."""
    board = _area(
        bytes([_ENGLISH])
        + _MFG_MINUTES.to_bytes(3, "little")
        + _field("DELL")
        + _field(identity.product)
        + _field(identity.board_serial)
        + _field(identity.board_part)
        + _field("")  # FRU file id
    )
    product = _area(
        bytes([_ENGLISH])
        + _field("DELL")
        + _field(identity.product)
        + _field("")  # part / model number
        + _field("01")  # version
        + _field(identity.service_tag)
        + _field("")  # asset tag
        + _field("")  # FRU file id
    )
    board_offset = 8
    product_offset = board_offset + len(board)
    header = bytes(
        [_FORMAT_VERSION, 0, 0, board_offset // 8, product_offset // 8, 0, 0]
    )
    return header + bytes([_zero_checksum(header)]) + board + product
