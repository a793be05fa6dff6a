"""Draw voiceguide's default cover art (voiceguide/export/cover.png) from code.

The picture players show for a session when no --cover is given: a calm dusk
gradient, a low sun and three soft waves, drawn with numpy and written as a
PNG with zlib, so the image in the repository can be rebuilt and checked:

    .venv/bin/python scripts/make_cover.py          # rewrite the file
    .venv/bin/python scripts/make_cover.py --check  # exit 1 if it differs
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np

SIZE = 600
TARGET = Path(__file__).resolve().parent.parent / "voiceguide" / "export" / "cover.png"


def _mix(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    return a + (b - a) * t[..., None]


def draw(size: int = SIZE) -> np.ndarray:
    """RGB pixels (size, size, 3) as uint8."""
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    top, low = np.array([32, 58, 84.0]), np.array([233, 176, 132.0])
    image = _mix(top, low, np.clip(y * 1.1 - 0.05, 0, 1) ** 1.4)
    sun = np.hypot(x - 0.5, (y - 0.58) * 1.0)
    glow = np.clip(1 - sun / 0.45, 0, 1) ** 2
    image = _mix(image, np.array([255, 214, 160.0]), glow * 0.55)
    disc = np.clip((0.17 - sun) * size / 3, 0, 1)  # anti-aliased edge of about 3 px
    image = _mix(image, np.array([255, 236, 200.0]), disc)
    for n, (level, shade) in enumerate([(0.66, 0.0), (0.76, 0.18), (0.87, 0.36)]):
        crest = level + 0.018 * np.sin(2 * np.pi * (x * (1.5 + 0.3 * n) + 0.2 * n))
        water = np.clip((y - crest) * size / 3, 0, 1)
        colour = _mix(np.array([54, 96, 118.0]), np.array([24, 44, 64.0]), np.full(1, shade))[0]
        image = _mix(image, colour, water * 0.85)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    """A plain 8-bit RGB PNG (filter 0 on every row), as small as zlib level 9 makes it."""
    height, width, _ = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + pixels[r].tobytes() for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def main(argv: list[str]) -> int:
    data = png(draw())
    if "--check" in argv:
        same = TARGET.exists() and TARGET.read_bytes() == data
        print(f"{TARGET}: {'up to date' if same else 'differs; run scripts/make_cover.py'}")
        return 0 if same else 1
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data) // 1024} KB, {SIZE}x{SIZE})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
