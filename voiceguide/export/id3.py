"""The ID3 tag of an MP3: tags, cover, lyrics, and chapters every reader accepts.

Written frame by frame in session order (mutagen's own ``save`` sorts frames
by size, and players that ignore the table of contents, ffmpeg among them,
list chapters in frame order). What readers were seen to need:

* ID3v2.3 with UTF-16 text by default: Pocket Casts reads frame sizes as
  plain integers (v2.4's are syncsafe), AntennaPod reads UTF-8 two bytes at
  a time (odd-length titles gained a NUL), Apple Podcasts and Telegram were
  reported to hide long v2.4 chapter titles. v2.4 stays available; its text
  is UTF-16 too, which v2.4 allows and every reader decodes.
* Element ids short and of one pattern (``chp0``, ``chp1``…): AntennaPod reads
  an id as at most 100 bytes, so ids padded to equal frame sizes lost every
  chapter once one title was long.
* A CTOC lists at most 255 children (its count is one byte): longer sessions
  get a top-level CTOC of ordered sub-tables of up to 255 chapters each, so
  every CHAP frame is still there for readers that walk frames.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Sequence

from voiceguide.errors import AudioError
from voiceguide.export.tags import Tags
from voiceguide.script import Chapter

VERSIONS = (3, 4)
MAX_CTOC_ENTRIES = 255
MAX_CHAPTERS = MAX_CTOC_ENTRIES * MAX_CTOC_ENTRIES
PADDING = 1024
UTF16 = 1  # ID3 text encoding byte: UTF-16 with a byte order mark


def check_chapters(count: int) -> None:
    """Refuse, before any work, a chapter count no ID3 table of contents can hold."""
    if count > MAX_CHAPTERS:
        raise AudioError(
            f"{count} chapters is more than an MP3 can list ({MAX_CHAPTERS}); "
            "write .m4b, .opus or .ogg, or group steps into fewer"
        )


def chapter_ids(count: int) -> list[str]:
    """``chp0``, ``chp1``…: short, ASCII, one pattern whatever the titles."""
    return [f"chp{i}" for i in range(count)]


def id3_tag(tags: Tags, chapters: Sequence[Chapter], version: int = 3) -> bytes:
    """A whole ID3v2 tag (header, frames in order, padding) to put before the audio.

    Frames are built here rather than by mutagen, whose writer ends every
    UTF-16 string with a NUL pair that some readers show; mutagen still
    reads the result back in the tests, as do ffmpeg and a strict reader.
    """
    if version not in VERSIONS:
        raise AudioError(f"ID3 version 2.{version} is not supported (use 2.3 or 2.4)")
    check_chapters(len(chapters))
    body = b"".join(_frame(name, data, version) for name, data in _frames(tags, chapters, version))
    size = len(body) + PADDING
    return b"ID3" + bytes((version, 0, 0)) + _syncsafe(size) + body + bytes(PADDING)


Frame = tuple[str, bytes]


def _syncsafe(n: int) -> bytes:
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def _frame(name: str, data: bytes, version: int) -> bytes:
    """Frame header (id, size, no flags) and data; v2.4 sizes are syncsafe, v2.3's plain."""
    size = _syncsafe(len(data)) if version == 4 else struct.pack(">I", len(data))
    return name.encode("ascii") + size + b"\x00\x00" + data


def _utf16(text: str) -> bytes:
    """UTF-16 with a byte order mark and no terminator: the text exactly."""
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def _text(name: str, text: str) -> Frame:
    return name, bytes([UTF16]) + _utf16(text)


def _described(name: str, text: str) -> Frame:
    """COMM or USLT: language, an empty description (terminated), then the text."""
    return name, bytes([UTF16]) + b"eng" + _utf16("") + b"\x00\x00" + _utf16(text)


def _frames(tags: Tags, chapters: Sequence[Chapter], version: int) -> list[Frame]:
    frames = [_text("TIT2", tags.title), _text("TPE1", tags.artist), _text("TALB", tags.album)]
    track = "" if tags.track is None else str(tags.track)
    length = "" if tags.length is None else str(round(tags.length * 1000))
    optional = [("TPE2", tags.album_artist), ("TCON", tags.genre), ("TRCK", track),
                ("TLEN", length)]  # fmt: skip
    frames += [_text(name, value) for name, value in optional if value]
    frames += _date_frames(tags.date, version)
    if tags.comment:
        frames.append(_described("COMM", tags.comment))
    if tags.lyrics:
        frames.append(_described("USLT", tags.lyrics))
    frames += chapter_frames(chapters, version)
    if tags.cover is not None:  # Latin-1 MIME type, front cover, empty description, image
        picture = tags.cover.mime.encode("latin-1") + b"\x00\x03\x00" + tags.cover.data
        frames.append(("APIC", b"\x00" + picture))
    return frames


def _date_frames(date: str, version: int) -> list[Frame]:
    if not date:
        return []
    if version == 4:
        return [_text("TDRC", date)]
    frames = [_text("TYER", date[:4])]
    if len(date) >= 10:  # TDAT is DDMM
        frames.append(_text("TDAT", date[8:10] + date[5:7]))
    return frames


_TOP_LEVEL, _ORDERED = 0x02, 0x01


def _ctoc(element_id: str, flags: int, children: Sequence[str], version: int,
          title: str = "") -> Frame:  # fmt: skip
    data = element_id.encode("ascii") + b"\x00" + bytes([flags, len(children)])
    data += b"".join(child.encode("ascii") + b"\x00" for child in children)
    if title:
        data += _frame(*_text("TIT2", title), version)
    return "CTOC", data


def chapter_frames(chapters: Sequence[Chapter], version: int = 3) -> list[Frame]:
    """The table(s) of contents, then one CHAP per chapter, in session order."""
    if not chapters:
        return []
    ids = chapter_ids(len(chapters))
    if len(ids) <= MAX_CTOC_ENTRIES:
        tables = [_ctoc("toc", _TOP_LEVEL | _ORDERED, ids, version)]
    else:
        groups = [ids[i : i + MAX_CTOC_ENTRIES] for i in range(0, len(ids), MAX_CTOC_ENTRIES)]
        names = [f"toc{n}" for n in range(1, len(groups) + 1)]
        tables = [_ctoc("toc", _TOP_LEVEL | _ORDERED, names, version)]
        for n, (name, group) in enumerate(zip(names, groups, strict=True)):
            first = n * MAX_CTOC_ENTRIES + 1
            label = f"Chapters {first}–{first + len(group) - 1}"
            tables.append(_ctoc(name, _ORDERED, group, version, label))
    chaps = []
    for element_id, chapter in zip(ids, chapters, strict=True):
        times = struct.pack(">IIII", round(chapter.start * 1000), round(chapter.end * 1000),
                            0xFFFFFFFF, 0xFFFFFFFF)  # fmt: skip
        title = _frame(*_text("TIT2", chapter.title), version)
        chaps.append(("CHAP", element_id.encode("ascii") + b"\x00" + times + title))
    return tables + chaps
