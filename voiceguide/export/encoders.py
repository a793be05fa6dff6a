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
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np

from voiceguide.ambience import ffmpeg_exe
from voiceguide.errors import AudioError
from voiceguide.export.containers import ffmetadata, tag_mp4, tag_vorbis
from voiceguide.export.files import LOSSY, _Temp, atomic_path, format_of
from voiceguide.export.id3 import id3_tag
from voiceguide.export.tags import Tags
from voiceguide.lifeline import child_dies_with_parent, widen_pipe
from voiceguide.pcm import to_int16 as to_pcm16
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
    #: How far the mix's loudest voice peaks may go over its (lowered) ceiling for the
    #: mixer's limiter to take back: only where the codec's peaks need so much headroom
    #: that the session would otherwise come out quiet (AAC under 96 kbps).
    limit_db: float = 0.0


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
        return _aac_trim(bitrate, channels)
    return Trim()


def _aac_trim(bitrate: int, channels: int) -> Trim:
    """AAC under 96 kbps adds 1.5–2.5 dB to the voice's peaks (64 kbps stereo), about 2.5 dB
    at 48 and 3.5–4 dB at 32 kbps: the mix sits that far under the ceiling, and the limiter
    takes a few dB off the voice's loudest peaks so the session still reaches the target
    (64 kbps mono has bits enough per channel to need no limiting)."""
    if bitrate >= 96:
        return Trim(0.0, 0.8)
    if channels == 1:
        return Trim(0.0, 3.8) if bitrate >= 64 else Trim(0.0, 4.6, 3.5)
    if bitrate >= 64:
        return Trim(0.0, 2.0, 2.5)
    return Trim(0.0, 2.8, 3.0) if bitrate >= 48 else Trim(0.0, 4.0, 4.0)


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
    command = [ffmpeg_exe(), *_METER_HEAD, "-i", str(path), "-af", _meter_chain(mono), *_METER_TAIL]
    proc = subprocess.run(command, capture_output=True, text=True, errors="replace")
    return _summary(proc.stderr, proc.returncode, path)


_METER_HEAD = ("-nostdin", "-hide_banner", "-nostats")
_METER_TAIL = ("-f", "null", "-")


def _meter_chain(mono: bool, trim: tuple[int, int | None] | None = None) -> str:
    """ebur128 after ``trim``, which keeps only samples [a, b) (b None: to the end)."""
    # Only the summary is read: per-frame lines (10 a second, 14 MB of text for 150
    # minutes, held several times over by the pipe reader) go to the verbose level.
    meter = "ebur128=peak=true:framelog=verbose" + (":dualmono=true" if mono else "")
    if trim is None:
        return meter
    end = "" if trim[1] is None else f":end_sample={trim[1]}"
    return f"atrim=start_sample={trim[0]}{end}," + meter


def piped_decoder(chain: str) -> list[str]:
    """ffmpeg decoding the MP3 stream on its stdin through ``chain``, all in one filter graph.

    Read by the mp3 demuxer, each of an hour's 138,000 frames would cross ffmpeg's
    threads one by one (demuxer, decoder, filters, muxer): 1.2 million futex calls and
    2.2 s of system time, on the two cores the encoder needs one of. Decoded inside the
    graph (the ``amovie`` source) and handed on in blocks of 65,536 samples, 20 times
    fewer; the meter takes 13 % less CPU (docs/benchmarks.md).
    """
    graph = f"amovie='pipe\\:0':f=mp3,{chain},asetnsamples=n=65536:p=0"
    return [ffmpeg_exe(), *_METER_HEAD, "-f", "lavfi", "-i", graph]


def _meter_command(mono: bool, trim: tuple[int, int | None] | None = None) -> list[str]:
    """The in-encode meter: ebur128 over the encoded stream as it is written."""
    return [*piped_decoder(_meter_chain(mono, trim)), *_METER_TAIL]


def _summary(stderr: str, returncode: int, path: Path) -> Measured:
    summary = stderr[stderr.rfind("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if returncode != 0 or not integrated or not peak:
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
    frames: int | None = None,
) -> Measured | None:
    """Encode float blocks (n, 2) to ``target``, tag it, and measure it if asked.

    Everything happens on a temporary file that replaces ``target`` only once
    it is complete (tags, chapters and measurement included). ``accept`` may
    refuse the measured file (:class:`Rejected`): ``target`` is then left as it was.
    """
    with atomic_path(target) as tmp:
        return encode_into(blocks, tmp, format_of(target), rate=rate, channels=channels,
                           bitrate=bitrate, tags=tags, chapters=chapters,
                           id3_version=id3_version, measured=measured, accept=accept,
                           frames=frames)  # fmt: skip


def encode_into(
    blocks: Iterable[np.ndarray],
    tmp: Path,
    fmt: str,
    *,
    rate: int,
    channels: int = 2,
    bitrate: int = DEFAULT_BITRATE,
    tags: Tags | Callable[[], Tags] | None = None,
    chapters: Sequence[Chapter] | Callable[[], Sequence[Chapter]] = (),
    id3_version: int = 3,
    measured: bool = False,
    accept: Callable[[Measured], bool] | None = None,
    frames: int | None = None,
    open_end: bool = False,
) -> Measured | None:
    """Encode into a temp made by :func:`atomic_paths` (the caller renames it into place).

    ``frames``, the number of samples the blocks hold, lets an MP3 be measured
    while it is encoded (:func:`_encode_mp3`) instead of decoded again after;
    ``open_end`` does the same for blocks whose number is known only at their
    end. ``tags`` and ``chapters`` may be functions, called once every block is
    written: a render that lays its session out while it mixes knows them only
    then. (M4B takes its chapters with the audio: they are asked for first.)
    """
    wanted = measured or accept is not None
    result: Measured | None = None
    if fmt == "mp3":
        header = partial(_id3_header, tags, chapters, id3_version)
        result = _encode_mp3(blocks, tmp, header, rate, channels, bitrate,
                             frames if wanted else None, open_end and wanted)  # fmt: skip
    elif fmt == "m4b":
        _encode_m4b(blocks, tmp, rate, channels, bitrate, tuple(_now(chapters)))
        if tags is not None:
            _tagging(tmp, lambda: tag_mp4(tmp, _now(tags)))
    else:
        _run_ffmpeg(blocks, tmp, fmt, rate=rate, channels=channels, bitrate=bitrate)
        if tags is not None and fmt != "wav":  # WAV carries no tags players read
            _tagging(tmp, lambda: tag_vorbis(tmp, fmt, _now(tags), tuple(_now(chapters))))
    if not wanted:
        return None
    result = result or measure(tmp, mono=channels == 1)
    if accept is not None and not accept(result):
        raise Rejected(result)
    return result


def _now(value):  # type: ignore[no-untyped-def]
    """A value given as it is, or as the function that makes it once the audio is written."""
    return value() if callable(value) else value


def _id3_header(tags, chapters, version: int) -> bytes:  # type: ignore[no-untyped-def]
    tags = _now(tags)
    return id3_tag(tags, tuple(_now(chapters)), version) if tags is not None else b""


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
    blocks: Iterable[np.ndarray], out: Path, header: Callable[[], bytes], rate: int,
    channels: int, bitrate: int, frames: int | None = None, open_end: bool = False,
) -> Measured | None:  # fmt: skip
    """The tag first, then the audio copied after it in chunks.

    Tagging a finished file in place makes mutagen move the whole MP3 through
    a memory map, which would make peak memory grow with session length.

    With ``frames`` (how many samples the blocks hold) ffmpeg also sends the
    encoded stream down a pipe to a second ffmpeg that measures it while the
    first writes it, so checking the loudness costs no time of its own. The
    piped stream lacks only the LAME tag (a pipe cannot be rewound to write
    it), so the meter skips the samples the tag tells a player to skip; the
    tag the file got is read back to confirm it, and anything unexpected
    measures the file again. Either way the figure is ebur128's of the
    samples the written file decodes to.

    With ``open_end`` (the number of samples is known only at the end) the
    meter keeps everything after the priming: what it hears past the end is
    the encoder's padding, silence after the session's fade-out, which
    BS.1770's gates leave out.
    """
    audio = _Temp.beside(out, ".audio")  # named after the temp, locked like it
    try:
        meter = trim = None
        if frames is not None or open_end:
            trim = (MP3_PRIMING, None if frames is None else MP3_PRIMING + frames)
            meter = _meter_command(channels == 1, trim)
        metered = _run_ffmpeg(blocks, audio.path, "mp3", rate=rate, channels=channels,
                              bitrate=bitrate, meter=meter)  # fmt: skip
        result = None
        if metered is not None and trim is not None and _trimmed_alike(audio.path, trim):
            with contextlib.suppress(AudioError):  # an unreadable summary: measure the file
                result = _summary(metered[1], metered[0], out)
        try:
            with open(out, "wb") as sink, open(audio.path, "rb") as source:
                sink.write(header())
                shutil.copyfileobj(source, sink, 1 << 20)
        except OSError as err:
            raise AudioError(f"{out}: cannot write ({err.strerror})") from None
        return result
    finally:
        audio.discard()


#: Samples an MP3 decoder skips at the start of ffmpeg's LAME encoding: LAME's encoder
#: delay (576) plus the decoder's own (529), as the file's LAME tag says.
MP3_PRIMING = 1105
_MP3_FRAME = 1152  # samples per MPEG-1 layer III frame


def _trimmed_alike(path: Path, trim: tuple[int, int | None]) -> bool:
    """Whether the file's LAME tag keeps the samples the meter kept (an open end: its start)."""
    kept = _lame_trim(path)
    return kept is not None and kept[0] == trim[0] and trim[1] in (None, kept[1])


def _lame_trim(path: Path) -> tuple[int, int] | None:
    """The samples [a, b) of the decoded stream a player keeps, from the MP3's LAME tag."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    at = max(head.find(b"Info", 0, 64), head.find(b"Xing", 0, 64))
    if at < 0 or len(head) < at + 144 or not head[at + 7] & 1:  # no frame count
        return None
    count = int.from_bytes(head[at + 8 : at + 12], "big")
    both = int.from_bytes(head[at + 141 : at + 144], "big")
    delay, padding = both >> 12, both & 0xFFF
    return delay + 529, count * _MP3_FRAME - padding + 529


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
    extra_inputs: Sequence[str] = (), piped: bool = False,
) -> list[str]:  # fmt: skip
    """The encoder's command; ``piped`` also sends the encoded stream to stdout (tee muxer)."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y"]
    cmd += ["-f", "s16le", "-ar", str(rate), "-ac", str(in_channels), "-i", "pipe:0"]
    cmd += [*extra_inputs, "-ac", str(channels), *_CODECS[fmt]]
    if in_channels == 2 and channels == 1:
        # The average of the two sides, said outright: left to `-ac 1`, ffmpeg mixes them at
        # -3 dB each for Vorbis, AAC and Opus, so a mono file came out 3 dB louder than its mix.
        cmd += ["-af", "pan=mono|c0=0.5*c0+0.5*c1"]
    if fmt in LOSSY:
        cmd += ["-b:a", f"{bitrate}k"]
    if fmt == "mp3" and not piped:
        cmd += ["-id3v2_version", "0", "-write_id3v1", "0"]
    # No metadata from the inputs, except chapter titles from an FFMETADATA file (M4B).
    cmd += ["-map_metadata", "1" if extra_inputs else "-1"]
    if not piped:
        return [*cmd, "-f", _MUXERS.get(fmt, fmt), str(out)]
    # The file, seekable so the muxer finishes its header; and the pipe, which may fail
    # alone (the file is measured again then). Quoted: a folder may hold any character.
    muxer = f"f={_MUXERS.get(fmt, fmt)}" + (
        ":id3v2_version=0:write_id3v1=0" if fmt == "mp3" else ""
    )
    path = "'" + str(Path(out).resolve()).replace("'", "'\\''") + "'"
    return [*cmd, "-map", "0:a", "-f", "tee", f"[{muxer}]{path}|[{muxer}:onfail=ignore]pipe:1"]


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
    meter: Sequence[str] | None = None,
) -> tuple[int, str] | None:
    """Stream PCM into ffmpeg: encoding runs in its own process, on the other core.

    ``meter``: a command that reads the encoded stream on its stdin while the
    file is written; its exit code and messages are returned.
    """
    cmd = _ffmpeg_command(out, fmt, rate, channels, bitrate, in_channels, extra_inputs,
                          piped=meter is not None)  # fmt: skip
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as said:
        procs: list[subprocess.Popen[bytes]] = []
        try:
            with _interrupts_held():  # a Ctrl-C held here is raised inside this try
                procs.append(subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stderr=errors, pass_fds=tuple(pass_fds),
                    stdout=subprocess.DEVNULL if meter is None else subprocess.PIPE,
                    preexec_fn=child_dies_with_parent(),
                ))  # fmt: skip
                # Linux's 64 KB is 0.37 s of stereo, which the MP3 encoder takes in 3 ms:
                # less than the mixer needs for a block it limits, so the encoder would wait.
                widen_pipe(procs[0].stdin)  # type: ignore[arg-type]
                if meter is not None:
                    procs.append(subprocess.Popen(
                        meter, stdin=procs[0].stdout, stdout=subprocess.DEVNULL, stderr=said,
                        preexec_fn=child_dies_with_parent(),
                    ))  # fmt: skip
                    _close_quietly(procs[0].stdout)  # the meter's now: EOF reaches it, not us
            stdin = procs[0].stdin
            assert stdin is not None
            _feed(blocks, stdin)
        except BaseException:  # the blocks failed (or Ctrl-C): ffmpeg must not wait for more
            for proc in procs:
                proc.kill()
                proc.wait()
            raise
        finally:
            if procs and procs[0].stdin is not None:
                _close_quietly(procs[0].stdin)
        if procs[0].wait() != 0:
            for proc in procs[1:]:
                proc.kill()
                proc.wait()
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
            raise AudioError(f"{out}: encoding failed ({message[-1] if message else 'ffmpeg'})")
        if meter is None:
            return None
        code = procs[1].wait()
        said.seek(0)
        return code, said.read().decode(errors="replace")


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


def _close_quietly(stdin: IO[bytes] | None) -> None:
    """Close ffmpeg's stdin (end of input); a pipe it already closed is no error here."""
    if stdin is not None:
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
