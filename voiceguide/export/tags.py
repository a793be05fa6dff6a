"""What a session file says about itself: tags, cover art and the words, format-free.

Each container writes these its own way (:mod:`voiceguide.export.id3`,
:mod:`voiceguide.export.containers`); this module only holds the values and
reads the user's cover image, so a bad ``--cover`` fails before any work.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from voiceguide.errors import VoiceguideError

#: Covers bigger than this are refused: they would be copied into every file.
MAX_COVER_BYTES = 4 << 20


@dataclass(frozen=True)
class Cover:
    """An image to embed (PNG or JPEG), with what FLAC's picture block wants to know."""

    data: bytes
    mime: str
    width: int = 0
    height: int = 0
    depth: int = 24


@dataclass(frozen=True)
class Tags:
    """Everything a player lists about a session. Empty strings are left out of the file."""

    title: str
    album: str
    comment: str = ""
    artist: str = "voiceguide"
    album_artist: str = "voiceguide"
    genre: str = "Spoken Word"
    date: str = ""  # YYYY-MM-DD
    track: int | None = None
    length: float | None = None  # seconds
    lyrics: str = ""
    cover: Cover | None = None


def default_cover() -> Cover:
    """voiceguide's own picture (drawn by scripts/make_cover.py)."""
    data = resources.files("voiceguide.export").joinpath("cover.png").read_bytes()
    return cover_from_bytes(data, "default cover")


def load_cover(path: Path) -> Cover:
    """The user's ``--cover`` image; one clear line when it is not a usable PNG or JPEG."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise VoiceguideError(f"{path}: the cover must be an image file (PNG or JPEG)")
        if size > MAX_COVER_BYTES:
            raise VoiceguideError(
                f"{path}: cover image is {size / 1e6:.1f} MB; use one under "
                f"{MAX_COVER_BYTES >> 20} MB (players show it a few centimetres wide)"
            )
        data = path.read_bytes()
    except OSError as err:
        raise VoiceguideError(f"{path}: cannot read the cover image ({err.strerror})") from None
    return cover_from_bytes(data, str(path))


def cover_from_bytes(data: bytes, name: str) -> Cover:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 33 and data[12:16] == b"IHDR":
        width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 3)
        return Cover(data, "image/png", width, height, bits * channels)
    if data.startswith(b"\xff\xd8"):
        width, height = _jpeg_size(data)
        return Cover(data, "image/jpeg", width, height, 24)
    raise VoiceguideError(f"{name}: the cover must be a PNG or JPEG image")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame marker (0, 0 if there is none)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return 0, 0


def duration_label(seconds: float) -> str:
    """How long a session is, as a title says it: "45 s", "20 min", "1 h 5 min"."""
    if seconds < 90:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
