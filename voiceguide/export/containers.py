"""Tags, cover, lyrics and chapters for every container but MP3 (see :mod:`.id3`).

OGG Vorbis, Opus and FLAC carry Vorbis comments: chapters as the
``CHAPTERxxx`` / ``CHAPTERxxxNAME`` pairs players read, the words as
``LYRICS``, the cover as ``METADATA_BLOCK_PICTURE`` (Ogg) or a FLAC picture
block. M4B carries MP4 atoms (``covr``, ``©lyr``…); its chapters are written
by ffmpeg during the encode from an FFMETADATA file (:func:`ffmetadata`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from voiceguide.export.tags import Cover, Tags
from voiceguide.script import Chapter


def timestamp(seconds: float, sep: str = ".") -> str:
    """HH:MM:SS.mmm, the form Vorbis chapters, WebVTT (and SRT with ",") use."""
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def vorbis_comments(tags: Tags, chapters: Sequence[Chapter]) -> dict[str, str]:
    """The comments of an OGG, Opus or FLAC file, in a stable order (cover excluded)."""
    values = {
        "TITLE": tags.title, "ARTIST": tags.artist, "ALBUM": tags.album,
        "ALBUMARTIST": tags.album_artist, "GENRE": tags.genre, "DATE": tags.date,
        "TRACKNUMBER": str(tags.track) if tags.track is not None else "",
        "COMMENT": tags.comment, "LYRICS": tags.lyrics,
    }  # fmt: skip
    comments = {key: value for key, value in values.items() if value}
    digits = max(3, len(str(len(chapters))))
    for i, chapter in enumerate(chapters, start=1):
        comments[f"CHAPTER{i:0{digits}d}"] = timestamp(chapter.start)
        comments[f"CHAPTER{i:0{digits}d}NAME"] = chapter.title
    return comments


def _picture(cover: Cover):  # type: ignore[no-untyped-def]
    from mutagen.flac import Picture

    picture = Picture()
    picture.type = 3  # front cover
    picture.mime = cover.mime
    picture.desc = ""
    picture.width, picture.height, picture.depth = cover.width, cover.height, cover.depth
    picture.data = cover.data
    return picture


def tag_vorbis(path: Path, fmt: str, tags: Tags, chapters: Sequence[Chapter]) -> None:
    """Write the comments (and cover) into a finished OGG Vorbis, Opus or FLAC file."""
    from mutagen.flac import FLAC
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    kind = {"flac": FLAC, "opus": OggOpus, "ogg": OggVorbis}[fmt]
    audio = kind(str(path))
    if audio.tags is None:
        audio.add_tags()
    for key, value in vorbis_comments(tags, chapters).items():
        audio[key] = value
    if tags.cover is not None:
        picture = _picture(tags.cover)
        if fmt == "flac":
            audio.add_picture(picture)
        else:
            audio["METADATA_BLOCK_PICTURE"] = base64.b64encode(picture.write()).decode("ascii")
    audio.save()


def tag_mp4(path: Path, tags: Tags) -> None:
    """Write iTunes-style atoms into a finished M4B (its chapters are in it already)."""
    from mutagen.mp4 import MP4, MP4Cover

    audio = MP4(str(path))
    if audio.tags is None:
        audio.add_tags()
    values = {
        "\xa9nam": tags.title, "\xa9ART": tags.artist, "\xa9alb": tags.album,
        "aART": tags.album_artist, "\xa9gen": tags.genre, "\xa9day": tags.date,
        "\xa9cmt": tags.comment, "\xa9lyr": tags.lyrics,
    }  # fmt: skip
    for key, value in values.items():
        if value:
            audio[key] = [value]
    if tags.track is not None:
        audio["trkn"] = [(tags.track, 0)]
    audio["stik"] = [2]  # media kind: audiobook, so Apple's players keep the place
    if tags.cover is not None:
        kind = MP4Cover.FORMAT_PNG if tags.cover.mime == "image/png" else MP4Cover.FORMAT_JPEG
        audio["covr"] = [MP4Cover(tags.cover.data, imageformat=kind)]
    audio.save()


def _escape(value: str) -> str:
    for ch in "\\=;#\n":
        value = value.replace(ch, "\\" + ch)
    return value


def ffmetadata(chapters: Sequence[Chapter]) -> str:
    """An FFMETADATA1 file of the chapters, in milliseconds, for ffmpeg's MP4 muxer."""
    lines = [";FFMETADATA1"]
    for chapter in chapters:
        start, end = round(chapter.start * 1000), round(chapter.end * 1000)
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}",
                  f"title={_escape(chapter.title)}"]  # fmt: skip
    return "\n".join(lines) + "\n"
