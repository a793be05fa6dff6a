"""File sinks: the session as MP3/OGG/FLAC/WAV with tags and chapters, plus subtitles.

Nothing is written at the target path until it is complete: every output
goes to a temporary file beside it and is renamed into place, so an error or
Ctrl-C leaves an existing file untouched and no partial file behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.ambience import ffmpeg_exe
from voiceguide.errors import AudioError, VoiceguideError
from voiceguide.lifeline import child_dies_with_parent
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


#: Our temporary files: ``.NAME.XXXXXXXX.part.EXT`` (and ``….audio`` beside an MP3's).
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.part(\.[A-Za-z0-9]+)?(\.audio)?$")
#: A temp younger than this may be between its creation and its lock: never swept.
_SWEEP_MIN_AGE = 2.0


@dataclass
class _Temp:
    """A temporary file held under an exclusive ``flock`` for as long as we write it.

    The lock is what tells a live render's temps from a killed one's: the
    kernel drops it when the process dies, however it dies.
    """

    path: Path
    fd: int

    @classmethod
    def beside(cls, target: Path, suffix: str = "") -> _Temp:
        folder = target.parent
        try:
            fd, name = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=f".part{target.suffix}{suffix}", dir=folder
            )
        except OSError as err:
            raise VoiceguideError(f"{target}: cannot write there ({err.strerror})") from None
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a session file is not a secret
        return cls(Path(name), fd)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def real_target(target: Path) -> Path:
    """Where writing ``target`` should land: through a symlink, the file it points to."""
    target = Path(target)
    return Path(os.path.realpath(target)) if target.is_symlink() else target


def sweep_stale_temps(folder: Path) -> list[Path]:
    """Remove temps of our naming in ``folder`` left by a killed process; return them.

    A temp is stale when nobody holds its lock. Anything else (a live render's
    temps, other programs' files, symlinks, very young files) is left alone.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime < _SWEEP_MIN_AGE:
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
                if os.fstat(fd).st_ino == os.stat(entry.path, follow_symlinks=False).st_ino:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            finally:
                os.close(fd)
    return removed


@contextlib.contextmanager
def atomic_paths(*targets: Path) -> Iterator[list[Path]]:
    """Temporary paths beside ``targets``, renamed onto them together if the block succeeds.

    Every temp is made before the block runs, so a folder that cannot be
    written fails before any work; if anything fails, every temp is removed
    and every existing target is left as it was.
    """
    reals = [real_target(t) for t in targets]
    for shown, real in zip(targets, reals, strict=True):
        if not real.resolve().parent.is_dir():
            raise VoiceguideError(f"{shown}: folder {real.resolve().parent} does not exist")
    for folder in dict.fromkeys(real.resolve().parent for real in reals):
        sweep_stale_temps(folder)
    temps: list[_Temp] = []
    try:
        for real in reals:
            temps.append(_Temp.beside(real))
        yield [temp.path for temp in temps]
        for shown, real, temp in zip(targets, reals, temps, strict=True):
            try:
                os.replace(temp.path, real)
            except OSError as err:
                raise VoiceguideError(f"{shown}: cannot write there ({err.strerror})") from None
    except BaseException:
        for temp in temps:
            temp.discard()
        raise
    finally:
        for temp in temps:
            temp.close()


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, renamed onto it only if the block succeeds."""
    with atomic_paths(target) as (tmp,):
        yield tmp


def unused_name(path: Path) -> Path:
    """``path``, or ``stem-2.ext``, ``stem-3.ext``…: the first name nothing has yet.

    For files the user did not name (a fallback ``say.wav``): those never
    replace anything.
    """
    candidate, n = Path(path), 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def refuse_overlaps(outputs: Mapping[str, Path | None], inputs: Mapping[str, Path | None]) -> None:
    """Refuse, before any work, an output that is an input or another output.

    Files are compared as the system sees them (device and inode, so a
    symlink or hard link to the routine counts); outputs that do not exist
    yet by their real paths.
    """
    seen: dict[tuple[object, ...], str] = {}
    for label, path in inputs.items():
        if path is not None and Path(path).exists():
            seen.setdefault(_identity(Path(path)), label)
    for label, path in outputs.items():
        if path is None:
            continue
        key = _identity(Path(path))
        if key in seen:
            raise VoiceguideError(
                f"{path}: the {label} would overwrite the {seen[key]}; name another file"
            )
        seen[key] = label


def _identity(path: Path) -> tuple[object, ...]:
    try:
        info = path.stat()
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", info.st_dev, info.st_ino)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        write_into(tmp, text, shown=target)


def write_into(tmp: Path, text: str, shown: Path) -> None:
    """Text into an open temp; a full disk is one line naming the file meant."""
    try:
        tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        raise VoiceguideError(f"{shown}: cannot write ({err.strerror})") from None


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
    with atomic_path(target) as tmp:
        encode_into(blocks, tmp, format_of(target), rate=rate, channels=channels,
                    bitrate=bitrate, tags=tags, chapters=chapters)  # fmt: skip


def encode_into(
    blocks: Iterable[np.ndarray],
    tmp: Path,
    fmt: str,
    *,
    rate: int,
    channels: int = 2,
    bitrate: int = 128,
    tags: Tags | None = None,
    chapters: tuple[Chapter, ...] = (),
) -> None:
    """Encode into a temp made by :func:`atomic_paths` (the caller renames it into place)."""
    if fmt == "mp3" and tags is not None:
        _encode_tagged_mp3(blocks, tmp, rate, channels, bitrate, tags, chapters)
        return
    _run_ffmpeg(blocks, tmp, fmt, rate=rate, channels=channels, bitrate=bitrate)
    if tags is not None and fmt in ("ogg", "flac"):  # WAV carries no tags
        try:
            _write_vorbis_comments(tmp, fmt, tags, chapters)
        except OSError as err:
            raise AudioError(f"{tmp}: cannot write tags ({err.strerror})") from None


def _encode_tagged_mp3(
    blocks: Iterable[np.ndarray], out: Path, rate: int, channels: int, bitrate: int,
    tags: Tags, chapters: tuple[Chapter, ...],
) -> None:  # fmt: skip
    """The tag first, then the audio copied after it in chunks.

    Tagging a finished file in place makes mutagen move the whole MP3 through
    a memory map, which would make peak memory grow with session length.
    """
    audio = _Temp.beside(out, ".audio")  # named after the temp, locked like it
    try:
        _run_ffmpeg(blocks, audio.path, "mp3", rate=rate, channels=channels, bitrate=bitrate)
        try:
            with open(out, "wb") as sink, open(audio.path, "rb") as source:
                sink.write(id3_tag(tags, chapters))
                shutil.copyfileobj(source, sink, 1 << 20)
        except OSError as err:
            raise AudioError(f"{out}: cannot write ({err.strerror})") from None
    finally:
        audio.discard()


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
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stderr=errors, preexec_fn=child_dies_with_parent()
        )
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
