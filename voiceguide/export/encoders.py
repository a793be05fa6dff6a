"""Audio through the bundled ffmpeg: one encoder per format, tags after, loudness measured.

PCM is streamed into ffmpeg, so encoding runs in its own process on the
other core and memory does not grow with the session. Lossy encoders change
loudness and true peak a little (LAME at 96–160 kbps loses about 0.45 dB and
overshoots peaks by a few tenths), so :func:`codec_trim` says how much louder
to mix and how much more peak headroom to leave for each format, and
:func:`measure` reads what the delivered file really measures.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from voiceguide.ambience import ffmpeg_exe
from voiceguide.errors import AudioError
from voiceguide.export.containers import ffmetadata, tag_mp4, tag_vorbis
from voiceguide.export.files import LOSSY, _Temp, atomic_path, format_of
from voiceguide.export.id3 import id3_tag
from voiceguide.export.tags import Tags
from voiceguide.lifeline import child_dies_with_parent
from voiceguide.script import Chapter

_CODECS = {
    "mp3": ["-c:a", "libmp3lame"],
    "m4b": ["-c:a", "aac"],
    "opus": ["-c:a", "libopus", "-ar", "48000"],  # Opus runs at 48 kHz only
    "ogg": ["-c:a", "libvorbis"],
    "flac": ["-c:a", "flac"],
    "wav": ["-c:a", "pcm_s16le"],
}
_MUXERS = {"m4b": "ipod"}
#: What libvorbis accepts at 44.1 kHz, in kbps (measured with the bundled ffmpeg).
VORBIS_RANGE = {1: (32, 240), 2: (45, 320)}
DEFAULT_BITRATE = 128
NAMES = {"mp3": "MP3", "m4b": "M4B (AAC)", "opus": "Opus", "ogg": "OGG Vorbis",
         "flac": "FLAC", "wav": "WAV"}  # fmt: skip


@dataclass(frozen=True)
class Trim:
    """How a codec moves loudness: mix ``gain_db`` louder and ``headroom_db`` further under
    the true-peak ceiling, so the *decoded* file meets both targets."""

    gain_db: float = 0.0
    headroom_db: float = 0.0


def codec_trim(fmt: str, bitrate: int, channels: int = 2) -> Trim:
    """Per-codec compensation, from built-in sessions encoded and measured with ebur128
    (scripts/bench.py loudness; docs/benchmarks.md). Low bitrates cut the highs and
    overshoot peaks most: AAC at 64 kbps by 3 dB, Vorbis at 48 kbps mono by 4 dB."""
    if fmt == "mp3":
        return Trim(0.45 if bitrate < 192 else 0.25 if bitrate < 256 else 0.0, 0.5)
    if fmt == "ogg":
        if channels == 1 and bitrate < 96:
            return Trim(0.1, 2.6)
        return Trim(0.1, 0.8 if bitrate >= 112 else 1.5 if bitrate >= 80 else 2.6)
    if fmt == "opus":
        return Trim(0.0, 0.5 if bitrate >= 96 else 0.8 if bitrate >= 48 else 2.2)
    if fmt == "m4b":
        return Trim(0.0, 0.8 if bitrate >= 96 else 3.8)
    return Trim()


def check_bitrate(fmt: str, bitrate: int | None, channels: int) -> str | None:
    """Refuse a bitrate the encoder cannot make; a note when the format has none."""
    if bitrate is None:
        return None
    if fmt not in LOSSY:
        return f"--bitrate does not apply to {NAMES[fmt]}: it is lossless"
    if fmt == "ogg":
        low, high = VORBIS_RANGE[channels]
        if not low <= bitrate <= high:
            layout = "mono" if channels == 1 else "stereo"
            raise AudioError(
                f"OGG Vorbis {layout} takes --bitrate {low} to {high} kbps, not {bitrate} "
                "(Opus, -o NAME.opus, goes lower)"
            )
    return None


@dataclass(frozen=True)
class Measured:
    """Loudness of a delivered file as ffmpeg's ebur128 filter reads it."""

    lufs: float
    true_peak: float


def measure(path: Path, mono: bool = False) -> Measured:
    """Integrated loudness and true peak of a file, decoded by ffmpeg (not our own meter).

    A mono file is measured as it plays, on two speakers (ebur128's dual mono):
    otherwise it reads 3 dB under the same sound in stereo.
    """
    meter = "ebur128=peak=true" + (":dualmono=true" if mono else "")
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-af", meter,
           "-f", "null", "-"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    summary = proc.stderr[proc.stderr.rfind("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if proc.returncode != 0 or not integrated or not peak:
        raise AudioError(f"{path}: could not measure the loudness of the written file")
    return Measured(float(integrated.group(1)), float(peak.group(1)))


def encode(
    blocks: Iterable[np.ndarray],
    target: Path,
    *,
    rate: int,
    channels: int = 2,
    bitrate: int = DEFAULT_BITRATE,
    tags: Tags | None = None,
    chapters: Sequence[Chapter] = (),
    id3_version: int = 3,
    measured: bool = False,
    accept: Callable[[Measured], bool] | None = None,
) -> Measured | None:
    """Encode float blocks (n, 2) to ``target``, tag it, and measure it if asked.

    Everything happens on a temporary file that replaces ``target`` only once
    it is complete (tags, chapters and measurement included). ``accept`` may
    refuse the measured file (:class:`Rejected`): ``target`` is then left as it was.
    """
    with atomic_path(target) as tmp:
        return encode_into(blocks, tmp, format_of(target), rate=rate, channels=channels,
                           bitrate=bitrate, tags=tags, chapters=chapters,
                           id3_version=id3_version, measured=measured, accept=accept)  # fmt: skip


def encode_into(
    blocks: Iterable[np.ndarray],
    tmp: Path,
    fmt: str,
    *,
    rate: int,
    channels: int = 2,
    bitrate: int = DEFAULT_BITRATE,
    tags: Tags | None = None,
    chapters: Sequence[Chapter] = (),
    id3_version: int = 3,
    measured: bool = False,
    accept: Callable[[Measured], bool] | None = None,
) -> Measured | None:
    """Encode into a temp made by :func:`atomic_paths` (the caller renames it into place)."""
    chapters = tuple(chapters)
    if fmt == "mp3":
        header = id3_tag(tags, chapters, id3_version) if tags is not None else b""
        _encode_mp3(blocks, tmp, header, rate, channels, bitrate)
    elif fmt == "m4b":
        _encode_m4b(blocks, tmp, rate, channels, bitrate, chapters)
        if tags is not None:
            _tagging(tmp, lambda: tag_mp4(tmp, tags))
    else:
        _run_ffmpeg(blocks, tmp, fmt, rate=rate, channels=channels, bitrate=bitrate)
        if tags is not None and fmt != "wav":  # WAV carries no tags players read
            _tagging(tmp, lambda: tag_vorbis(tmp, fmt, tags, chapters))
    if not measured and accept is None:
        return None
    result = measure(tmp, mono=channels == 1)
    if accept is not None and not accept(result):
        raise Rejected(result)
    return result


def _tagging(tmp: Path, write: Callable[[], None]) -> None:
    try:
        write()
    except OSError as err:
        raise AudioError(f"{tmp}: cannot write tags ({err.strerror})") from None


class Rejected(Exception):
    """The encoded file measured outside its targets; the caller mixes again."""

    def __init__(self, measured: Measured) -> None:
        super().__init__(f"{measured.lufs:.2f} LUFS, {measured.true_peak:.2f} dBTP")
        self.measured = measured


def _encode_mp3(
    blocks: Iterable[np.ndarray], out: Path, header: bytes, rate: int, channels: int, bitrate: int
) -> None:
    """The tag first, then the audio copied after it in chunks.

    Tagging a finished file in place makes mutagen move the whole MP3 through
    a memory map, which would make peak memory grow with session length.
    """
    audio = _Temp.beside(out, ".audio")  # named after the temp, locked like it
    try:
        _run_ffmpeg(blocks, audio.path, "mp3", rate=rate, channels=channels, bitrate=bitrate)
        try:
            with open(out, "wb") as sink, open(audio.path, "rb") as source:
                sink.write(header)
                shutil.copyfileobj(source, sink, 1 << 20)
        except OSError as err:
            raise AudioError(f"{out}: cannot write ({err.strerror})") from None
    finally:
        audio.discard()


def _encode_m4b(
    blocks: Iterable[np.ndarray], out: Path, rate: int, channels: int, bitrate: int,
    chapters: Sequence[Chapter],
) -> None:  # fmt: skip
    """AAC in MP4 through ffmpeg's ipod muxer, with the chapters from FFMETADATA.

    ffmpeg reads the chapters from an open file that has no name (``pipe:N``):
    a render killed mid-encode leaves no chapters file anywhere to sweep.
    """
    with tempfile.TemporaryFile() as meta:  # unlinked at once on POSIX
        meta.write(ffmetadata(chapters).encode("utf-8"))
        meta.flush()
        meta.seek(0)
        fd = meta.fileno()
        extra = ["-f", "ffmetadata", "-i", f"pipe:{fd}", "-map", "0:a", "-map_chapters", "1"]
        _run_ffmpeg(blocks, out, "m4b", rate=rate, channels=channels, bitrate=bitrate,
                    extra_inputs=extra, pass_fds=(fd,))  # fmt: skip


def _ffmpeg_command(
    out: Path, fmt: str, rate: int, channels: int, bitrate: int, in_channels: int = 2,
    extra_inputs: Sequence[str] = (),
) -> list[str]:  # fmt: skip
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y"]
    cmd += ["-f", "s16le", "-ar", str(rate), "-ac", str(in_channels), "-i", "pipe:0"]
    cmd += [*extra_inputs, "-ac", str(channels), *_CODECS[fmt]]
    if in_channels == 2 and channels == 1:
        # The average of the two sides, said outright: left to `-ac 1`, ffmpeg mixes them at
        # -3 dB each for Vorbis, AAC and Opus, so a mono file came out 3 dB louder than its mix.
        cmd += ["-af", "pan=mono|c0=0.5*c0+0.5*c1"]
    if fmt in LOSSY:
        cmd += ["-b:a", f"{bitrate}k"]
    if fmt == "mp3":
        cmd += ["-id3v2_version", "0", "-write_id3v1", "0"]
    # No metadata from the inputs, except chapter titles from an FFMETADATA file (M4B).
    cmd += ["-map_metadata", "1" if extra_inputs else "-1", "-f", _MUXERS.get(fmt, fmt), str(out)]
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
    extra_inputs: Sequence[str] = (),
    pass_fds: Sequence[int] = (),
) -> None:
    """Stream PCM into ffmpeg: encoding runs in its own process, on the other core."""
    cmd = _ffmpeg_command(out, fmt, rate, channels, bitrate, in_channels, extra_inputs)
    with tempfile.TemporaryFile() as errors:
        proc: subprocess.Popen[bytes] | None = None
        try:
            with _interrupts_held():  # a Ctrl-C held here is raised inside this try
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stderr=errors, pass_fds=tuple(pass_fds),
                    preexec_fn=child_dies_with_parent(),
                )  # fmt: skip
            assert proc.stdin is not None
            _feed(blocks, proc.stdin)
        except BaseException:  # the blocks failed (or Ctrl-C): ffmpeg must not wait for more
            if proc is not None:
                proc.kill()
                proc.wait()
            raise
        finally:
            if proc is not None and proc.stdin is not None:
                _close_quietly(proc.stdin)
        if proc.wait() != 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
            raise AudioError(f"{out}: encoding failed ({message[-1] if message else 'ffmpeg'})")


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C while ffmpeg starts, then deliver it.

    A KeyboardInterrupt inside ``Popen`` (or before its result is ours) leaves an
    ffmpeg nobody kills: it reads end-of-input once its pipe is dropped and writes
    its output file *after* our cleanup removed it (a stray ``.part.mp3.audio``).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(signal.SIGINT)


def _feed(blocks: Iterable[np.ndarray], stdin: IO[bytes]) -> None:
    """Write every block to ffmpeg. Only a broken pipe from *this* write means ffmpeg
    stopped reading (its exit code and message then say why); a BrokenPipeError from
    making a block (a progress line to a closed stdout) is the caller's error."""
    for block in blocks:
        data = to_pcm16(block).tobytes()
        try:
            stdin.write(data)
        except BrokenPipeError:
            return


def _close_quietly(stdin: IO[bytes]) -> None:
    """Close ffmpeg's stdin (end of input); a pipe it already closed is no error here."""
    with contextlib.suppress(BrokenPipeError):
        stdin.close()


def write_audio(path: Path, audio: np.ndarray, rate: int) -> None:
    """A short piece of audio (n, channels) to a file, format by extension, atomically."""
    audio = audio[:, None] if audio.ndim == 1 else audio
    write_blocks(path, [audio], rate, channels=audio.shape[1])


def write_blocks(path: Path, blocks: Iterable[np.ndarray], rate: int, channels: int) -> None:
    """Audio blocks (n, channels) to a file as they come (a long one is never whole in memory)."""
    fmt = format_of(path)
    with atomic_path(path) as tmp:
        _run_ffmpeg(blocks, tmp, fmt, rate=rate, channels=channels,
                    bitrate=DEFAULT_BITRATE, in_channels=channels)  # fmt: skip


def to_pcm16(block: np.ndarray) -> np.ndarray:
    """Float in [-1, 1] to interleaved little-endian 16-bit."""
    return np.clip(np.round(block * 32767.0), -32768, 32767).astype("<i2")
