"""File sinks: the session as MP3/OGG/FLAC/WAV with tags and chapters, plus subtitles.

Nothing is written at the target path until it is complete: every output
goes to a temporary file beside it and is renamed into place, so an error or
Ctrl-C leaves an existing file untouched and no partial file behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.ambience import ffmpeg_exe
from voiceguide.errors import AudioError, VoiceguideError
from voiceguide.script import Chapter, Script

FORMATS = {".mp3": "mp3", ".ogg": "ogg", ".oga": "ogg", ".flac": "flac", ".wav": "wav"}
_CODECS = {
    "mp3": ["-c:a", "libmp3lame"],
    "ogg": ["-c:a", "libvorbis"],
    "flac": ["-c:a", "flac"],
    "wav": ["-c:a", "pcm_s16le"],
}


@dataclass(frozen=True)
class Tags:
    title: str
    album: str
    comment: str = ""
    artist: str = "voiceguide"


def format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise AudioError(f"{path}: unsupported format {path.suffix!r} (use {known})")
    return fmt


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed onto it only if the block succeeds."""
    target = Path(target)
    folder = target.resolve().parent
    if not folder.is_dir():
        raise VoiceguideError(f"{target}: folder {folder} does not exist")
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=folder
        )
    except OSError as err:
        raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a session file is not a secret
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError as err:
            raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- audio


def encode(
    blocks: Iterable[np.ndarray],
    target: Path,
    *,
    rate: int,
    channels: int = 2,
    bitrate: int = 128,
    tags: Tags | None = None,
    chapters: tuple[Chapter, ...] = (),
) -> None:
    """Encode float blocks (n, 2) to ``target`` through the bundled ffmpeg, then tag it."""
    fmt = format_of(target)
    with atomic_path(target) as tmp:
        if fmt == "mp3" and tags is not None:
            _encode_tagged_mp3(blocks, tmp, rate, channels, bitrate, tags, chapters)
            return
        _run_ffmpeg(blocks, tmp, fmt, rate=rate, channels=channels, bitrate=bitrate)
        if tags is not None and fmt in ("ogg", "flac"):  # WAV carries no tags
            _write_vorbis_comments(tmp, fmt, tags, chapters)


def _encode_tagged_mp3(
    blocks: Iterable[np.ndarray], out: Path, rate: int, channels: int, bitrate: int,
    tags: Tags, chapters: tuple[Chapter, ...],
) -> None:  # fmt: skip
    """The tag first, then the audio copied after it in chunks.

    Tagging a finished file in place makes mutagen move the whole MP3 through
    a memory map, which would make peak memory grow with session length.
    """
    audio = out.with_name(out.name + ".audio")
    try:
        _run_ffmpeg(blocks, audio, "mp3", rate=rate, channels=channels, bitrate=bitrate)
        with open(out, "wb") as sink, open(audio, "rb") as source:
            sink.write(id3_tag(tags, chapters))
            shutil.copyfileobj(source, sink, 1 << 20)
    finally:
        audio.unlink(missing_ok=True)


def _ffmpeg_command(
    out: Path, fmt: str, rate: int, channels: int, bitrate: int, in_channels: int = 2
) -> list[str]:
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y"]
    cmd += ["-f", "s16le", "-ar", str(rate), "-ac", str(in_channels), "-i", "pipe:0"]
    cmd += ["-ac", str(channels), *_CODECS[fmt]]
    if fmt == "mp3":
        cmd += ["-b:a", f"{bitrate}k", "-id3v2_version", "0", "-write_id3v1", "0"]
    elif fmt == "ogg":
        cmd += ["-q:a", "5"]
    cmd += ["-map_metadata", "-1", "-f", fmt, str(out)]
    return cmd


def _run_ffmpeg(
    blocks: Iterable[np.ndarray],
    out: Path,
    fmt: str,
    *,
    rate: int,
    channels: int,
    bitrate: int,
    in_channels: int = 2,
) -> None:
    """Stream PCM into ffmpeg: encoding runs in its own process, on the other core."""
    cmd = _ffmpeg_command(out, fmt, rate, channels, bitrate, in_channels)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=errors)
        assert proc.stdin is not None
        try:
            for block in blocks:
                proc.stdin.write(to_pcm16(block).tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
            raise AudioError(f"{out}: encoding failed ({message[-1] if message else 'ffmpeg'})")


def write_audio(path: Path, audio: np.ndarray, rate: int) -> None:
    """A short piece of audio (n, channels) to a file, format by extension, atomically."""
    audio = audio[:, None] if audio.ndim == 1 else audio
    fmt = format_of(path)
    with atomic_path(path) as tmp:
        _run_ffmpeg([audio], tmp, fmt, rate=rate, channels=audio.shape[1], bitrate=128,
                    in_channels=audio.shape[1])  # fmt: skip


def to_pcm16(block: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] to interleaved little-endian 16-bit."""
    return np.clip(np.round(block * 32767.0), -32768, 32767).astype("<i2")


# ---------------------------------------------------------------- tags


def id3_tag(tags: Tags, chapters: tuple[Chapter, ...]) -> bytes:
    """ID3v2.4 tags with CHAP frames in session order and a CTOC listing them.

    Players that ignore CTOC (ffmpeg is one) list chapters in frame order,
    and mutagen reorders frames when saving: :func:`chapter_ids` makes that
    order the session's.
    """
    from mutagen.id3 import CHAP, COMM, CTOC, ID3, TALB, TIT2, TPE1, CTOCFlags

    id3 = ID3()
    id3.add(TIT2(encoding=3, text=[tags.title]))
    id3.add(TPE1(encoding=3, text=[tags.artist]))
    id3.add(TALB(encoding=3, text=[tags.album]))
    if tags.comment:
        id3.add(COMM(encoding=3, lang="eng", desc="", text=[tags.comment]))
    ids = chapter_ids(chapters)
    if chapters:
        id3.add(CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                     child_element_ids=ids, sub_frames=[]))  # fmt: skip
    for element_id, chapter in zip(ids, chapters, strict=True):
        id3.add(CHAP(
            element_id=element_id,
            start_time=round(chapter.start * 1000),
            end_time=round(chapter.end * 1000),
            sub_frames=[TIT2(encoding=3, text=[chapter.title])],
        ))  # fmt: skip
    buffer = io.BytesIO()
    id3.save(buffer, v2_version=4, padding=lambda info: 1024)
    return buffer.getvalue()


def chapter_ids(chapters: tuple[Chapter, ...]) -> list[str]:
    """Element ids ``ch000``, ``ch001``, … padded so every CHAP frame has the same size.

    mutagen orders frames by key, then (stably) by size: zero-padded numbers
    sort in session order, and equal sizes leave that order alone.
    """
    sizes = [len(c.title.encode("utf-8")) for c in chapters]
    longest = max(sizes, default=0)
    digits = len(str(max(len(chapters) - 1, 0)))
    return [
        f"ch{i:0{digits}d}".ljust(2 + digits + longest - size, "_") for i, size in enumerate(sizes)
    ]


def _write_vorbis_comments(path: Path, fmt: str, tags: Tags, chapters: tuple[Chapter, ...]) -> None:
    """Vorbis comments, with chapters in the CHAPTERxxx convention players read."""
    from mutagen.flac import FLAC
    from mutagen.oggvorbis import OggVorbis

    audio = FLAC(str(path)) if fmt == "flac" else OggVorbis(str(path))
    audio["title"] = tags.title
    audio["artist"] = tags.artist
    audio["album"] = tags.album
    if tags.comment:
        audio["comment"] = tags.comment
    for i, chapter in enumerate(chapters, start=1):
        audio[f"CHAPTER{i:03d}"] = _timestamp(chapter.start, ".")
        audio[f"CHAPTER{i:03d}NAME"] = chapter.title
    audio.save()


# ---------------------------------------------------------------- subtitles and scripts


def _timestamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def subtitles(script: Script, srt: bool) -> str:
    """WebVTT (or SRT) with every cue's text at its real time."""
    sep = "," if srt else "."
    lines = [] if srt else ["WEBVTT", ""]
    for n, cue in enumerate(script.cues, start=1):
        if srt:
            lines.append(str(n))
        lines.append(f"{_timestamp(cue.at, sep)} --> {_timestamp(cue.end, sep)}")
        lines.append(cue.text)
        lines.append("")
    return "\n".join(lines)


def write_subtitles(script: Script, target: Path) -> None:
    write_text(target, subtitles(script, srt=target.suffix.lower() == ".srt"))
