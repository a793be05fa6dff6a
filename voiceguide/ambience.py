"""Ambience beds: the bundled loops and any audio file a user points at.

A bed is held in memory as one loop (at most a few minutes of float32 stereo)
and read by absolute sample index, so the mixer can pull blocks of any size for
a session of any length without memory growing. Bundled beds were generated
periodic (``scripts/make_ambience.py``) and are tiled as they are; a user's file
is made loopable by cross-fading its tail into its head.

Decoding goes through the ffmpeg that ships with ``imageio-ffmpeg``: it is
always there (no system ffmpeg needed) and reads mp3/ogg/wav/flac alike.
Nothing is decoded at import time; bundled beds are decoded once and cached.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceguide.errors import AudioError
from voiceguide.lifeline import child_dies_with_parent
from voiceguide.paths import cache_dir

SESSION_RATE = 44100
CHIME = "chime"
MAX_LOOP_SECONDS = 240.0  # a user's file longer than this is cut: memory stays bounded
MIN_USER_SECONDS = 3.0  # shorter files would loop audibly (and leave no room to cross-fade)
MAX_CROSSFADE_SECONDS = 3.0
SILENCE = 10 ** (-70 / 20)  # leading/trailing samples below −70 dBFS are trimmed from user files


@dataclass(frozen=True)
class BedInfo:
    """One entry of the bundled manifest, as shown by ``voiceguide ambience list``."""

    name: str
    description: str
    seconds: float
    licence: str
    path: Path
    loop: bool = True
    lufs: float | None = None  # measured on the decoded file by scripts/make_ambience.py
    peak_dbtp: float | None = None


def bundled_dir() -> Path:
    """Folder of the bundled beds: inside an installed wheel, else the source checkout's."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "beds", package.parent / "ambience"):
        if (candidate / "manifest.json").is_file():
            return candidate
    raise AudioError(
        f"bundled ambience not found (looked in {package / 'beds'} and "
        f"{package.parent / 'ambience'}); reinstall voiceguide"
    )


@functools.lru_cache(maxsize=1)
def _manifest() -> tuple[BedInfo, ...]:
    """Every manifest entry, chime included (read once: it never changes while running)."""
    folder = bundled_dir()
    entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return tuple(
        BedInfo(
            name=e["name"],
            description=e["description"],
            seconds=float(e["seconds"]),
            licence=e["licence"],
            path=folder / e["file"],
            loop=bool(e.get("loop", True)),
            lufs=e.get("lufs"),
            peak_dbtp=e.get("peak_dbtp"),
        )
        for e in entries
    )


def bundled_info(name: str) -> BedInfo:
    """The manifest entry of a bundled bed or the chime."""
    return next(info for info in _manifest() if info.name == name)


def list_beds() -> list[BedInfo]:
    """The bundled beds a routine can name (the step-change chime is not a bed)."""
    return [info for info in _manifest() if info.loop and info.name != CHIME]


def ffmpeg_exe() -> str:
    """Path of the ffmpeg bundled with imageio-ffmpeg (no system ffmpeg or ffprobe needed)."""
    import imageio_ffmpeg  # imported lazily: it looks for its binary on import

    return imageio_ffmpeg.get_ffmpeg_exe()


def decode(
    path: Path | str, rate: int = SESSION_RATE, channels: int = 2, max_seconds: float | None = None
) -> np.ndarray:
    """Decode any audio file ffmpeg reads to float32 ``(n, channels)`` at ``rate``.

    Raises AudioError (one line naming the file) when it is missing, not audio, or empty.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not path.is_file():
        raise AudioError(f"{path}: no such audio file")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-vn"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:.3f}"]
    cmd += ["-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    limit = None if max_seconds is None else int(max_seconds * rate) + rate
    samples = _read_pcm(cmd, path, channels, limit)
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio")
    np.clip(samples, -1.0, 1.0, out=samples)
    return samples


#: Bytes read from ffmpeg at a time: decoding holds one block beyond the result.
_READ_BLOCK = 1 << 20


def _read_pcm(cmd: list[str], path: Path, channels: int, limit: int | None) -> np.ndarray:
    """ffmpeg's float32 output read block by block straight into its final array.

    With a frame ``limit`` the array is allocated once at that size (and
    trimmed as a view), so a long file costs no more than the limit and is
    never held twice, as a bytes object and as samples.
    """
    frame = 4 * channels
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL,
            preexec_fn=child_dies_with_parent(),
        )  # fmt: skip
        assert proc.stdout is not None
        full = False
        try:
            if limit is not None:
                out = np.empty((limit, channels), dtype=np.float32)
                view = memoryview(out).cast("B")
                filled = 0
                while filled < len(view):
                    got = proc.stdout.readinto(view[filled : filled + _READ_BLOCK])
                    if not got:
                        break
                    filled += got
                full = filled == len(view)  # enough: ffmpeg need not finish
                samples = out[: filled // frame]
            else:
                data = b"".join(iter(lambda: proc.stdout.read(_READ_BLOCK), b""))  # type: ignore[union-attr]
                samples = np.frombuffer(data, dtype="<f4").reshape(-1, channels).copy()
        finally:
            proc.stdout.close()
            if full or sys.exc_info()[0] is not None:
                proc.kill()
            code = proc.wait()
        if code != 0 and not full:
            errors.seek(0)
            raise AudioError(f"{path}: cannot decode audio ({_last_line(errors.read())})")
    return samples


def _last_line(stderr: bytes) -> str:
    """ffmpeg's most specific complaint is its last line; keep the error to one line."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "ffmpeg failed"


@functools.lru_cache(maxsize=8)
def _bundled_loop(name: str) -> np.ndarray:
    """Decode a bundled file once per process; read-only so no caller can spoil the cache.

    Decoding Vorbis takes a tenth of a second or more, which live playback
    cannot spare before its first block, so the decoded samples are also kept
    on disk (int16, keyed by the file's hash) and later runs just read them.
    """
    info = bundled_info(name)
    data = info.path.read_bytes()
    cached = cache_dir() / "beds" / f"{name}-{hashlib.sha1(data).hexdigest()[:16]}.npy"
    try:
        pcm = np.load(cached)
    except (OSError, ValueError):
        pcm = np.clip(np.round(decode(info.path) * 32768.0), -32768, 32767).astype("<i2")
        _store_decoded(cached, pcm)
    loop = pcm.astype(np.float32) / np.float32(32768.0)  # the same samples, cached or not
    loop.setflags(write=False)
    return loop


def _bundled_powers(info: BedInfo) -> np.ndarray | None:
    """The loop's K-weighted 100 ms powers, measured when the bed was made (None if absent)."""
    try:
        return np.load(info.path.with_name(f"{info.name}.powers.npy"))
    except (OSError, ValueError):
        return None


def _store_decoded(path: Path, pcm: np.ndarray) -> None:
    """Best effort: a read-only or full cache folder only costs the next run a decode."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npy")
        np.save(tmp, pcm)
        os.replace(tmp, path)
    except OSError:
        pass


def _load_user_bed(key: str) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A user bed's loop (int16 on disk), hop powers and true peak, if cached."""
    folder = cache_dir() / "beds"
    try:
        pcm = np.load(folder / f"user-{key}.npy")
        powers = np.load(folder / f"user-{key}.powers.npy")
        peak = float(np.load(folder / f"user-{key}.peak.npy"))
    except (OSError, ValueError):
        return None
    if pcm.ndim != 2 or pcm.shape[1] != 2 or pcm.shape[0] == 0:
        return None
    loop = pcm.astype(np.float32)
    loop /= np.float32(32768.0)
    return loop, powers, peak


def _quantized(loop: np.ndarray, block: int = SESSION_RATE * 10) -> np.ndarray:
    """``loop`` rounded in place to 16-bit steps, as the cache stores it (a block at a time)."""
    for start in range(0, len(loop), block):
        part = loop[start : start + block]
        np.clip(np.round(part * 32768.0), -32768, 32767, out=part)
        part /= np.float32(32768.0)
    return loop


def _store_user_bed(key: str, loop: np.ndarray, powers: np.ndarray, peak: float) -> None:
    """Best effort, like the bundled beds' cache (powers and peak first: the loop marks done).

    The loop goes to disk through a memory map a block at a time, so storing
    it costs no second copy in memory.
    """
    folder = cache_dir() / "beds"
    _store_decoded(folder / f"user-{key}.powers.npy", powers)
    _store_decoded(folder / f"user-{key}.peak.npy", np.array(peak))
    target = folder / f"user-{key}.npy"
    tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
    try:
        pcm = np.lib.format.open_memmap(tmp, mode="w+", dtype="<i2", shape=loop.shape)
        for start in range(0, len(loop), SESSION_RATE * 10):
            part = loop[start : start + SESSION_RATE * 10]
            pcm[start : start + len(part)] = np.round(part * 32768.0)
        pcm.flush()
        del pcm
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def load_chime() -> np.ndarray:
    """The soft step-change chime, float32 ``(n, 2)`` at SESSION_RATE (read-only, cached)."""
    return _bundled_loop(CHIME)


def make_loopable(samples: np.ndarray, rate: int = SESSION_RATE) -> np.ndarray:
    """Turn a recording into a seamless loop by an equal-power cross-fade of tail into head.

    The last ``x`` samples are faded out over the first ``x`` faded in and the result is
    ``x`` shorter; the loop's end then continues exactly where the tail left off. Float32
    input is changed in place (only the fade is computed apart), so a four-minute bed is
    never held twice.
    """
    samples = samples if samples.dtype == np.float32 else samples.astype(np.float32)
    n = samples.shape[0]
    fade = int(min(MAX_CROSSFADE_SECONDS * rate, n / 4))
    theta = (np.arange(fade, dtype=np.float64) + 0.5) / fade * (np.pi / 2)
    fade_in, fade_out = np.sin(theta)[:, None], np.cos(theta)[:, None]
    loop = samples[: n - fade]
    head = samples[:fade] * fade_in + samples[n - fade :] * fade_out
    loop[:fade] = np.clip(head, -1.0, 1.0)
    np.clip(loop, -1.0, 1.0, out=loop)
    return loop


def _trim_silence(samples: np.ndarray, block: int = SESSION_RATE) -> np.ndarray:
    """Drop digital silence at both ends so it does not become a gap in every loop.

    Scanned a second at a time from each end, so no full-length temporary is made.
    """
    n = samples.shape[0]
    first = next(
        (start + int(loud[0]) for start in range(0, n, block)
         if (loud := _loud_frames(samples[start : start + block])).size),
        None,
    )  # fmt: skip
    if first is None:
        return samples[:0]
    last = next(
        start + int(loud[-1]) for start in range(((n - 1) // block) * block, -1, -block)
        if (loud := _loud_frames(samples[start : start + block])).size
    )  # fmt: skip
    return samples[first : last + 1]


def _loud_frames(block: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.max(np.abs(block), axis=1) > SILENCE)


#: Bump when decoding or looping of user beds changes, so old cache entries stop matching.
USER_BED_VERSION = 1


def _user_bed_key(path: Path) -> str | None:
    """Cache key of a user's file: where it is, its size and when it changed."""
    try:
        info = path.stat()
    except OSError:
        return None
    identity = f"{path.resolve()}|{info.st_size}|{info.st_mtime_ns}|{MAX_LOOP_SECONDS}|"
    return hashlib.sha1(f"{identity}{USER_BED_VERSION}".encode()).hexdigest()[:20]


def _analyse(loop: np.ndarray, block: int = 10 * SESSION_RATE) -> tuple[np.ndarray, float]:
    """The loop's K-weighted hop powers and true peak (dBTP), a block at a time.

    The mixer would otherwise measure the whole loop at once, in float64 and
    4× oversampled: hundreds of MB and many seconds for a four-minute bed.
    Interpolation cannot more than double a peak, so true peak is looked for
    only around the loudest samples (a few thousand short windows).
    """
    from voiceguide.loudness import HopMeter

    meter = HopMeter(SESSION_RATE, channels=loop.shape[1])
    powers = [meter.feed(loop[start : start + block]) for start in range(0, len(loop), block)]
    return np.concatenate(powers) if powers else np.zeros(0), _true_peak_near_loudest(loop, block)


def _true_peak_near_loudest(loop: np.ndarray, block: int, per_block: int = 256) -> float:
    """True peak (dBTP) from 4× oversampled windows around each block's loudest samples."""
    from voiceguide.loudness import true_peak_db

    half = 32  # samples either side: longer than the interpolation filter reaches
    gap = np.zeros((2 * half, loop.shape[1]), dtype=np.float32)
    best = -np.inf
    for start in range(0, len(loop), block):
        magnitude = np.max(np.abs(loop[start : start + block]), axis=1)
        top = np.argpartition(magnitude, -min(per_block, len(magnitude)))[-per_block:]
        windows = []
        for index in np.sort(top) + start:
            windows += [loop[max(0, index - half) : index + half], gap]
        best = max(best, float(true_peak_db(np.concatenate(windows))))
    return best


class Bed:
    """A loopable bed in memory, readable at any absolute sample index."""

    def __init__(
        self,
        name: str,
        loop: np.ndarray,
        rate: int = SESSION_RATE,
        info: BedInfo | None = None,
        *,
        powers: np.ndarray | None = None,
        peak_dbtp: float | None = None,
    ) -> None:
        if loop.ndim != 2 or loop.shape[1] != 2 or loop.shape[0] == 0:
            raise ValueError("a bed's loop must be a non-empty (n, 2) array")
        self.name = name
        self.loop = loop
        self.rate = rate
        # Known levels of a bundled bed spare the mixer a measurement (and a
        # slow scipy import) before live playback's first block.
        self.lufs = info.lufs if info else None
        self.peak_dbtp = info.peak_dbtp if info else peak_dbtp
        self.powers = _bundled_powers(info) if info else powers

    def __repr__(self) -> str:
        return f"Bed({self.name!r}, {self.seconds:.1f} s)"

    @property
    def seconds(self) -> float:
        return self.loop.shape[0] / self.rate

    @classmethod
    def load(cls, spec: str, base_dir: Path | None = None) -> Bed:
        """A bundled bed by name (``river``) or an audio file (relative to ``base_dir``)."""
        names = [info.name for info in list_beds()]
        if spec in names:
            return cls(spec, _bundled_loop(spec), info=bundled_info(spec))
        path = Path(spec).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        if path.suffix or "/" in spec or "\\" in spec or path.exists():
            return cls.from_file(path)
        raise AudioError(_unknown_name(spec, names))

    @classmethod
    def from_file(cls, path: Path) -> Bed:
        """A user's recording, trimmed, capped at MAX_LOOP_SECONDS and cross-faded into a loop.

        Memory is bounded by the cap, not by the file: it is decoded a block at a
        time into one array and looped in place. The loop and its measurements are
        kept in the cache, so the next session with this bed starts at once.
        """
        key = _user_bed_key(path) if path.is_file() else None
        cached = _load_user_bed(key) if key else None
        if cached is not None:
            loop, powers, peak = cached
            return cls(path.name, loop, powers=powers, peak_dbtp=peak)
        fade_room = MAX_CROSSFADE_SECONDS
        samples = _trim_silence(decode(path, max_seconds=MAX_LOOP_SECONDS + fade_room))
        if samples.shape[0] == 0:
            raise AudioError(f"{path}: is digital silence; a bed needs some sound to loop")
        if samples.shape[0] < MIN_USER_SECONDS * SESSION_RATE:
            seconds = samples.shape[0] / SESSION_RATE
            raise AudioError(
                f"{path}: {seconds:.2f} s of sound is too short to loop "
                f"(need at least {MIN_USER_SECONDS:.0f} s)"
            )
        loop = _quantized(make_loopable(samples))  # the very samples the cache will give back
        powers, peak = _analyse(loop)
        if key:
            _store_user_bed(key, loop, powers, peak)
        return cls(path.name, loop, powers=powers, peak_dbtp=peak)

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` frames from absolute index ``start`` of the endlessly repeated loop.

        A pure function of (start, count): blocks cut anywhere join into the same signal.
        """
        n = self.loop.shape[0]
        out = np.empty((count, 2), dtype=np.float32)
        filled, pos = 0, start % n
        while filled < count:
            take = min(count - filled, n - pos)
            out[filled : filled + take] = self.loop[pos : pos + take]
            filled, pos = filled + take, 0
        return out


def _unknown_name(spec: str, names: list[str]) -> str:
    close = difflib.get_close_matches(spec, names, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"unknown ambience '{spec}': {hint}bundled beds are {', '.join(names)}; "
        "or give a path to an mp3/ogg/wav/flac file"
    )
