#!/usr/bin/env python3
"""Draws the app icons into app/static/ (run by hand when the design changes; the PNGs are
committed). Standard library only: shapes are sampled 4x4 per pixel for anti-aliasing and
written as 8-bit RGBA PNG with zlib.

The picture: a calendar page (a scheduled task) with a right arrow leaving it (created on
another machine). appIcon* is for light backgrounds, appIconAlt* for Splunk's dark app bar.
Sizes are the ones app.conf.spec asks for: 36x36 and, for high-DPI screens, 72x72.
"""
import struct
import zlib
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"


def inside(x, y):
    """Which shape covers the point (x, y) of the unit square: 'bg', 'fg', 'accent' or None."""
    # Rounded-square tile.
    r, lo, hi = 0.18, 0.0, 1.0
    cx = min(max(x, lo + r), hi - r)
    cy = min(max(y, lo + r), hi - r)
    if (x - cx) ** 2 + (y - cy) ** 2 > r * r:
        return None
    # Arrow (accent), drawn over the calendar: shaft and head pointing right.
    if 0.50 <= x <= 0.74 and 0.60 <= y <= 0.70:
        return "accent"
    if 0.72 <= x <= 0.92 and abs(y - 0.65) <= (0.92 - x) * 0.85:
        return "accent"
    # Calendar page: header bar, body outline, two rings, a grid of days.
    if 0.16 <= x <= 0.66 and 0.20 <= y <= 0.80:
        if y <= 0.34:
            return "fg"
        if x <= 0.21 or x >= 0.61 or y >= 0.75:
            return "fg"
        for gx in (0.27, 0.38, 0.49):
            for gy in (0.42, 0.55):
                if gx <= x <= gx + 0.07 and gy <= y <= gy + 0.07:
                    return "fg"
        return "bg"
    if (0.26 <= x <= 0.31 or 0.51 <= x <= 0.56) and 0.13 <= y <= 0.24:
        return "fg"
    return "bg"


def render(size, palette):
    rows = []
    n = 4
    for py in range(size):
        row = bytearray([0])  # PNG filter type 0 for the scanline
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(n):
                for sx in range(n):
                    shape = inside((px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size)
                    if shape is None:
                        continue
                    red, green, blue = palette[shape]
                    acc[0] += red
                    acc[1] += green
                    acc[2] += blue
                    acc[3] += 1
            covered = acc[3]
            if covered:
                row += bytes(round(c / covered) for c in acc[:3])
            else:
                row += bytes(3)
            row.append(round(255 * covered / (n * n)))
        rows.append(bytes(row))
    return png(size, size, b"".join(rows))


def png(width, height, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


LIGHT = {"bg": (0x1B, 0x5E, 0x84), "fg": (0xFF, 0xFF, 0xFF), "accent": (0xF5, 0xA6, 0x23)}
DARK = {"bg": (0xFF, 0xFF, 0xFF), "fg": (0x1B, 0x5E, 0x84), "accent": (0xE0, 0x7A, 0x00)}

if __name__ == "__main__":
    STATIC.mkdir(exist_ok=True)
    for name, size, palette in [
        ("appIcon.png", 36, LIGHT),
        ("appIcon_2x.png", 72, LIGHT),
        ("appIconAlt.png", 36, DARK),
        ("appIconAlt_2x.png", 72, DARK),
    ]:
        (STATIC / name).write_bytes(render(size, palette))
