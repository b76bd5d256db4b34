#!/usr/bin/env python3
"""Draws Deskbell's app and tray icons (a bell) as RGBA PNGs, standard library only.

    python3 icons/generate.py        # rewrites the PNGs next to this script

App icons: 32x32.png, 128x128.png, 128x128@2x.png (256), icon.png (512): a white bell on a
rounded blue square. Tray icons, 32 and 64 px (name@2x.png), transparent background:
tray-live (green), tray-reconnecting (amber), tray-offline (grey), tray-signed-out (grey,
hollow, struck through).
"""

import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = 4  # per axis: 16 samples per pixel for smooth edges


def png(path, size, pixels):
    """pixels: list of rows of (r, g, b, a) tuples."""
    raw = bytearray()
    for row in pixels:
        raw.append(0)  # filter: none
        for r, g, b, a in row:
            raw += bytes((r, g, b, a))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
    data += chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


def in_bell(x, y):
    """The bell in unit coordinates (0..1, y down)."""
    # Knob on top.
    if (x - 0.5) ** 2 + (y - 0.16) ** 2 <= 0.06 ** 2:
        return True
    # Dome: upper half of a circle.
    if 0.19 <= y <= 0.42 and (x - 0.5) ** 2 + (y - 0.42) ** 2 <= 0.23 ** 2:
        return True
    # Flaring body.
    if 0.42 <= y <= 0.72:
        half = 0.23 + (y - 0.42) / 0.30 * 0.08
        if abs(x - 0.5) <= half:
            return True
    # Rim: a capsule.
    if 0.70 <= y <= 0.78:
        cy, r = 0.74, 0.04
        if abs(x - 0.5) <= 0.34:
            return True
        for cx in (0.16, 0.84):
            if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                return True
    # Clapper below the rim.
    if y >= 0.78 and (x - 0.5) ** 2 + (y - 0.80) ** 2 <= 0.09 ** 2:
        return True
    return False


def in_bell_inset(x, y, d):
    """Inside the bell by at least d (for outlines): all 8 neighbours at distance d inside."""
    for k in range(8):
        a = k * math.pi / 4
        if not in_bell(x + d * math.cos(a), y + d * math.sin(a)):
            return False
    return in_bell(x, y)


def in_rounded_square(x, y, margin, radius):
    lo, hi = margin, 1 - margin
    if not (lo <= x <= hi and lo <= y <= hi):
        return False
    cx = min(max(x, lo + radius), hi - radius)
    cy = min(max(y, lo + radius), hi - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius


def near_slash(x, y, width):
    # From top-left to bottom-right of the bell's box.
    ax, ay, bx, by = 0.14, 0.12, 0.86, 0.88
    t = ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)
    t = min(max(t, 0.0), 1.0)
    px, py = ax + t * (bx - ax), ay + t * (by - ay)
    return (x - px) ** 2 + (y - py) ** 2 <= (width / 2) ** 2


def render(size, shade):
    """shade(x, y) -> (r, g, b, a) with a in 0..1, or None; averaged over sub-samples."""
    rows = []
    n = SAMPLES
    for py in range(size):
        row = []
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(n):
                for sx in range(n):
                    x = (px + (sx + 0.5) / n) / size
                    y = (py + (sy + 0.5) / n) / size
                    c = shade(x, y)
                    if c:
                        r, g, b, a = c
                        acc[0] += r * a
                        acc[1] += g * a
                        acc[2] += b * a
                        acc[3] += a
            total = n * n
            alpha = acc[3] / total
            if alpha <= 0:
                row.append((0, 0, 0, 0))
            else:
                row.append((
                    round(acc[0] / acc[3]),
                    round(acc[1] / acc[3]),
                    round(acc[2] / acc[3]),
                    round(alpha * 255),
                ))
        rows.append(row)
    return rows


def app_shade(x, y):
    if not in_rounded_square(x, y, 0.04, 0.2):
        return None
    # Scale the bell into the middle of the square.
    bx, by = (x - 0.5) / 0.68 + 0.5, (y - 0.5) / 0.68 + 0.52
    if in_bell(bx, by):
        return (255, 255, 255, 1.0)
    # A soft vertical gradient, indigo to blue.
    t = y
    return (round(66 + (51 - 66) * t), round(99 + (154 - 99) * t), round(235 + (240 - 235) * t), 1.0)


def tray_shade(color, hollow=False, slash=False):
    dark = tuple(round(c * 0.55) for c in color)

    def shade(x, y):
        if slash and near_slash(x, y, 0.10):
            if near_slash(x, y, 0.05):
                return (*dark, 1.0)
            return (255, 255, 255, 1.0)
        if not in_bell(x, y):
            return None
        edge = 0.045
        if not in_bell_inset(x, y, edge):
            return (*dark, 1.0)
        if hollow:
            return (255, 255, 255, 0.85)
        return (*color, 1.0)

    return shade


def main():
    for name, size in [("32x32.png", 32), ("128x128.png", 128), ("128x128@2x.png", 256), ("icon.png", 512)]:
        png(os.path.join(HERE, name), size, render(size, app_shade))
    trays = {
        "tray-live": tray_shade((47, 158, 68)),
        "tray-reconnecting": tray_shade((240, 140, 0)),
        "tray-offline": tray_shade((134, 142, 150)),
        "tray-signed-out": tray_shade((134, 142, 150), hollow=True, slash=True),
    }
    for name, shade in trays.items():
        png(os.path.join(HERE, f"{name}.png"), 32, render(32, shade))
        png(os.path.join(HERE, f"{name}@2x.png"), 64, render(64, shade))


if __name__ == "__main__":
    main()
