"""A deliberately strict ID3v2.3 reader, written the way AntennaPod reads chapters.

It walks frames with plain 32-bit sizes (as v2.3 and Pocket Casts do), reads a
CHAP or CTOC element id as a NUL-terminated string of at most 100 bytes, and
decodes text exactly, reporting stray NULs instead of hiding them. It is not
mutagen, on purpose: a tag mutagen forgives may still lose chapters on a phone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_ID_BYTES = 100


class StrictError(AssertionError):
    pass


@dataclass
class Frame:
    name: str
    data: bytes


@dataclass
class Chap:
    element_id: str
    start: int
    end: int
    frames: list[Frame] = field(default_factory=list)

    @property
    def title(self) -> str:
        return text_of(next(f for f in self.frames if f.name == "TIT2"))


@dataclass
class Toc:
    element_id: str
    flags: int
    children: list[str]
    frames: list[Frame] = field(default_factory=list)


@dataclass
class Tag:
    version: int
    frames: list[Frame]

    def first(self, name: str) -> Frame:
        return next(f for f in self.frames if f.name == name)

    def names(self) -> list[str]:
        return [f.name for f in self.frames]

    def text(self, name: str) -> str:
        return text_of(self.first(name))

    @property
    def chapters(self) -> list[Chap]:
        return [parse_chap(f.data) for f in self.frames if f.name == "CHAP"]

    @property
    def tocs(self) -> list[Toc]:
        return [parse_ctoc(f.data) for f in self.frames if f.name == "CTOC"]


def read_tag(data: bytes) -> Tag:
    if data[:3] != b"ID3":
        raise StrictError("no ID3 header")
    version, _revision, flags = data[3], data[4], data[5]
    if version != 3:
        raise StrictError(f"ID3v2.{version}, expected v2.3")
    if flags:
        raise StrictError(f"header flags {flags:#x} (unsynchronisation/extended header)")
    size = _syncsafe(data[6:10])
    return Tag(version, walk_frames(data[10 : 10 + size]))


def walk_frames(body: bytes) -> list[Frame]:
    frames, i = [], 0
    while i + 10 <= len(body) and body[i] != 0:
        name = body[i : i + 4].decode("ascii")
        (size,) = struct.unpack(">I", body[i + 4 : i + 8])  # plain 32-bit, as v2.3 says
        if not name.isalnum() or i + 10 + size > len(body):
            raise StrictError(f"frame {name!r} at {i} runs past the tag ({size} bytes)")
        frames.append(Frame(name, body[i + 10 : i + 10 + size]))
        i += 10 + size
    if any(body[i:]):
        raise StrictError("non-zero bytes in the padding")
    return frames


def _element_id(data: bytes) -> tuple[str, int]:
    end = data.find(b"\x00", 0, MAX_ID_BYTES + 1)
    if end < 0:
        raise StrictError(f"element id longer than {MAX_ID_BYTES} bytes")
    return data[:end].decode("ascii"), end + 1


def parse_chap(data: bytes) -> Chap:
    element_id, i = _element_id(data)
    start, end, _so, _eo = struct.unpack(">IIII", data[i : i + 16])
    return Chap(element_id, start, end, walk_frames(data[i + 16 :]))


def parse_ctoc(data: bytes) -> Toc:
    element_id, i = _element_id(data)
    flags, count = data[i], data[i + 1]
    i += 2
    children = []
    for _ in range(count):
        child, used = _element_id(data[i:])
        children.append(child)
        i += used
    return Toc(element_id, flags, children, walk_frames(data[i:]))


def text_of(frame: Frame) -> str:
    """A text frame's value, exactly: UTF-16 with BOM or Latin-1, no terminator allowed."""
    encoding, raw = frame.data[0], frame.data[1:]
    if encoding == 1:
        if raw[:2] not in (b"\xff\xfe", b"\xfe\xff") or len(raw) % 2:
            raise StrictError(f"{frame.name}: UTF-16 text without a BOM or of odd length")
        text = raw.decode("utf-16")
    elif encoding == 0:
        text = raw.decode("latin-1")
    else:
        raise StrictError(f"{frame.name}: text encoding {encoding} is not v2.3's UTF-16")
    if "\x00" in text:
        raise StrictError(f"{frame.name}: stray NUL in {text!r}")
    return text


def lang_text(frame: Frame) -> str:
    """COMM/USLT: encoding, language, description, text (the description must be empty)."""
    encoding = frame.data[0]
    if encoding != 1:
        raise StrictError(f"{frame.name}: encoding {encoding}")
    rest = frame.data[4:]
    # empty description: BOM then the 2-byte terminator
    if rest[:4] not in (b"\xff\xfe\x00\x00", b"\xfe\xff\x00\x00"):
        raise StrictError(f"{frame.name}: unexpected description {rest[:8]!r}")
    return text_of(Frame(frame.name, b"\x01" + rest[4:]))


def _syncsafe(b: bytes) -> int:
    if any(x & 0x80 for x in b):
        raise StrictError("tag size is not syncsafe")
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]
