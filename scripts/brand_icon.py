"""Draw the integration's brand icon: a three-blade fan on a rack-blue rounded square.

Pure Python (zlib + struct) so it runs anywhere:
    scripts/run python scripts/brand_icon.py custom_components/dell_fan_control/brand
"""

import math
from pathlib import Path
import struct
import sys
import zlib

WHITE = (245, 248, 252, 1.0)
HUB = (0x1F, 0x5F, 0xA8, 1.0)
SUPERSAMPLE = 3


def pixel(px: float, py: float) -> tuple[int, int, int, float]:
    """Colour of one point on a 256-unit canvas."""
    margin, radius = 8, 48
    dx = max(margin + radius - px, 0, px - (256 - margin - radius))
    dy = max(margin + radius - py, 0, py - (256 - margin - radius))
    if dx * dx + dy * dy > radius * radius:
        return (0, 0, 0, 0.0)
    cx, cy = px - 128, py - 128
    distance = math.hypot(cx, cy)
    if distance < 18:
        return HUB if distance < 9 else WHITE
    if 96 < distance < 106:
        return WHITE
    if distance <= 96:
        angle = math.atan2(cy, cx)
        for blade in range(3):
            offset = angle - blade * 2 * math.pi / 3 - (distance / 96) * 0.9
            offset = (offset + math.pi) % (2 * math.pi) - math.pi
            half_width = 0.55 * math.sin(distance / 96 * math.pi) ** 0.6 + 0.08
            if abs(offset) < half_width:
                return WHITE
    shade = py / 256
    return (
        int(0x17 + 0x10 * shade),
        int(0x3A + 0x25 * (1 - shade)),
        int(0x6E + 0x30 * (1 - shade)),
        1.0,
    )


def render(size: int) -> bytes:
    """A size-by-size RGBA PNG, anti-aliased by supersampling."""
    scale = size / 256
    rows = []
    for y in range(size):
        row = bytearray([0])  # PNG filter type: none
        for x in range(size):
            red = green = blue = alpha = 0.0
            for sy in range(SUPERSAMPLE):
                for sx in range(SUPERSAMPLE):
                    r, g, b, a = pixel(
                        (x + (sx + 0.5) / SUPERSAMPLE) / scale,
                        (y + (sy + 0.5) / SUPERSAMPLE) / scale,
                    )
                    red, green, blue, alpha = (
                        red + r * a,
                        green + g * a,
                        blue + b * a,
                        alpha + a,
                    )
            if alpha:
                row += bytes((int(red / alpha), int(green / alpha), int(blue / alpha)))
                row += bytes((int(alpha / SUPERSAMPLE**2 * 255),))
            else:
                row += bytes(4)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    target = Path(sys.argv[1])
    (target / "icon.png").write_bytes(render(256))
    (target / "icon@2x.png").write_bytes(render(512))
