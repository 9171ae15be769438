"""Draw the integration icon: a three-blade fan on a rack-blue rounded square (pure Python PNG)."""
import math, struct, zlib, sys

def render(size: int) -> bytes:
    s = size / 256
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            # supersample 3x3 for anti-aliasing
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(3):
                for sx in range(3):
                    px = (x + (sx + 0.5) / 3) / s
                    py = (y + (sy + 0.5) / 3) / s
                    r, g, b, a = pixel(px, py)
                    acc[0] += r * a; acc[1] += g * a; acc[2] += b * a; acc[3] += a
            a = acc[3] / 9
            if a > 0:
                row += bytes([int(acc[0] / acc[3]), int(acc[1] / acc[3]), int(acc[2] / acc[3]), int(a * 255)])
            else:
                row += bytes(4)
        rows.append(bytes(row))
    raw = b"".join(rows)
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def pixel(px: float, py: float):
    # rounded square background
    m, rad = 8, 48
    dx = max(m + rad - px, 0, px - (256 - m - rad)); dy = max(m + rad - py, 0, py - (256 - m - rad))
    if dx * dx + dy * dy > rad * rad:
        return (0, 0, 0, 0)
    cx, cy = px - 128, py - 128
    d = math.hypot(cx, cy)
    ang = math.atan2(cy, cx)
    white = (245, 248, 252, 1.0)
    if d < 18:
        return (0x1f, 0x5f, 0xa8, 1.0) if d < 9 else white
    if 96 < d < 106:
        return white
    if d <= 96:
        # three swept blades
        for k in range(3):
            a0 = ang - k * 2 * math.pi / 3 - (d / 96) * 0.9
            a0 = (a0 + math.pi) % (2 * math.pi) - math.pi
            half = 0.55 * math.sin(min(d, 96) / 96 * math.pi) ** 0.6 + 0.08
            if abs(a0) < half:
                return white
    # background gradient: rack blue
    t = py / 256
    return (int(0x17 + 0x10 * t), int(0x3a + 0x25 * (1 - t)), int(0x6e + 0x30 * (1 - t)), 1.0)

open(sys.argv[1], "wb").write(render(256))
open(sys.argv[2], "wb").write(render(512))
